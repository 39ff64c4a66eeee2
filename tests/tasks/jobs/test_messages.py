"""Our hand-built task messages match what Celery itself publishes, field for field."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from gateway.queues import queue_key
from gateway.settings import Settings
from tasks.jobs.messages import TaskMessageBuilder
from tests.support.dispatcher import JobDispatcher
from tests.support.processes import RedisServer
from workers.celery_app import make_celery

VOLATILE_HEADERS = {"id", "root_id", "origin"}
VOLATILE_PROPERTIES = {"correlation_id", "reply_to", "delivery_tag"}


@pytest.fixture
def scratch(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    for key in client.scan_iter("llm.wire-test*"):
        client.delete(key)
    yield client
    for key in client.scan_iter("llm.wire-test*"):
        client.delete(key)
    client.close()


def celery_published(
    client: redis.Redis, url: str, priority: int, request_id: str | None
) -> tuple[str, dict[str, Any]]:
    JobDispatcher(make_celery(Settings(redis_url=url))).dispatch(
        "job_wire", "llm.wire-test", priority, request_id
    )
    keys = [k.decode() for k in client.scan_iter("llm.wire-test*")]
    assert len(keys) == 1
    return keys[0], json.loads(client.rpop(keys[0]))  # type: ignore[arg-type]


def strip(message: dict[str, Any]) -> dict[str, Any]:
    """The message without per-message ids, with its body decoded."""
    headers = {k: v for k, v in message["headers"].items() if k not in VOLATILE_HEADERS}
    props = {k: v for k, v in message["properties"].items() if k not in VOLATILE_PROPERTIES}
    body = json.loads(base64.b64decode(message["body"]))
    return {**message, "headers": headers, "properties": props, "body": body}


@pytest.mark.parametrize(("priority", "request_id"), [(9, "req-1"), (5, None), (0, "r")])
def test_built_message_matches_celerys_own(
    scratch: redis.Redis, redis_server: RedisServer, priority: int, request_id: str | None
) -> None:
    key, theirs = celery_published(scratch, redis_server.url, priority, request_id)
    ours = TaskMessageBuilder().run_job("job_wire", "llm.wire-test", priority, request_id)
    assert ours.key == key
    mine = json.loads(ours.payload)
    assert strip(mine) == strip(theirs)
    assert (
        mine["headers"]["id"] == mine["headers"]["root_id"] == mine["properties"]["correlation_id"]
    )
    assert json.loads(base64.b64decode(mine["body"])) == [
        ["job_wire"],
        {},
        {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
    ]


def test_queue_key_uses_priority_lists() -> None:
    assert queue_key("llm.openai", 0) == "llm.openai"
    assert queue_key("llm.openai", 4) == "llm.openai:4"
