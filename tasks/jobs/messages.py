"""Celery task messages in the Redis transport's wire format, built without kombu.

The API stores a job record and pushes its Celery message in one Lua script, so a job is
never accepted without a message or queued without a record, and submission costs one
Redis round trip instead of a record write plus a kombu publish (which builds a new Redis
client per message). The format is Celery's task protocol 2 inside kombu's Redis envelope;
``tests/tasks/jobs/test_messages.py`` checks it against what Celery itself publishes.
"""

from __future__ import annotations

import base64
import os
import socket
import uuid
from dataclasses import dataclass, field

import orjson

from gateway import tracing
from gateway.queues import (
    DELIVER_WEBHOOK_TASK,
    MAX_PRIORITY,
    RUN_JOB_TASK,
    WEBHOOKS_QUEUE,
    queue_key,
)

_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """One ready-to-push message: LPUSH ``payload`` onto ``key``."""

    key: str
    payload: bytes
    task_id: str


@dataclass(frozen=True, slots=True)
class TaskMessageBuilder:
    """Builds ``llm.run_job`` messages for this process."""

    origin: str = field(default_factory=lambda: f"gen{os.getpid()}@{socket.gethostname()}")
    reply_to: str = field(default_factory=lambda: str(uuid.uuid4()))

    def run_job(
        self, job_id: str, queue: str, priority: int, request_id: str | None
    ) -> TaskMessage:
        return self.task(RUN_JOB_TASK, job_id, queue, priority, request_id)

    def deliver_webhook(self, target: str) -> TaskMessage:
        """A ``llm.deliver_webhook`` message for a delivery target ("job:<id>", "batch:<id>")."""
        return self.task(DELIVER_WEBHOOK_TASK, target, WEBHOOKS_QUEUE, MAX_PRIORITY, None)

    def task(
        self, name: str, argument: str, queue: str, priority: int, request_id: str | None
    ) -> TaskMessage:
        """A message calling task ``name`` with one string argument."""
        job_id = argument
        task_id = str(uuid.uuid4())
        celery_priority = MAX_PRIORITY - priority
        body = orjson.dumps([[job_id], {}, _EMBED])
        headers: dict[str, object] = {
            "lang": "py",
            "task": name,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": repr([job_id]),
            "kwargsrepr": "{}",
            "origin": self.origin,
            "ignore_result": None,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        }
        if request_id:
            headers["request_id"] = request_id
        # The trace this message belongs to (``traceparent``): Celery copies custom headers
        # onto the task's request, where the worker's Celery instrumentation finds it.
        tracing.inject(headers)
        message = {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": {
                "correlation_id": task_id,
                "reply_to": self.reply_to,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": celery_priority,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
        return TaskMessage(queue_key(queue, celery_priority), orjson.dumps(message), task_id)
