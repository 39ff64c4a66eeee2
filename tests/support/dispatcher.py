"""``JobDispatcher``: sends a job id through Celery's own publisher, so tests can compare
what Celery publishes with the message the API builds itself (``tasks.jobs.messages``)."""

from __future__ import annotations

from typing import Any

from celery import Celery

from gateway.queues import MAX_PRIORITY, RUN_JOB_TASK


class JobDispatcher:
    """Sends a job id to a queue. Only the id travels; the record is the source of truth."""

    def __init__(self, celery: Celery) -> None:
        self._celery = celery

    def dispatch(self, job_id: str, queue: str, priority: int, request_id: str | None) -> None:
        headers: dict[str, Any] = {"request_id": request_id} if request_id else {}
        self._celery.send_task(
            RUN_JOB_TASK,
            args=[job_id],
            queue=queue,
            priority=MAX_PRIORITY - priority,
            headers=headers,
        )
