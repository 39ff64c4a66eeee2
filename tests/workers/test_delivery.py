"""A store or broker failure during a delivery puts the message back; it is never dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from celery.exceptions import Reject, Retry
from redis.exceptions import ConnectionError as RedisConnectionError

from tasks.execution import RetryLater
from workers.app import run_delivery


@dataclass
class Runner:
    outcome: Exception | None

    def run(self, job_id: str) -> None:
        if self.outcome is not None:
            raise self.outcome


@dataclass
class Task:
    retry_raises: Exception
    calls: list[dict[str, Any]] = field(default_factory=list)

    def retry(self, **options: Any) -> None:
        self.calls.append(options)
        raise self.retry_raises


def test_redis_failure_requeues_the_message() -> None:
    with pytest.raises(Reject) as info:
        run_delivery(Task(Retry()), Runner(RedisConnectionError("down")), "job_1")  # type: ignore[arg-type]
    assert info.value.requeue is True


def test_retry_goes_through_celery_retry_with_countdown() -> None:
    task = Task(Retry())
    with pytest.raises(Retry):
        run_delivery(task, Runner(RetryLater(2.5, "provider_unavailable")), "job_1")  # type: ignore[arg-type]
    assert task.calls == [{"countdown": 2.5}]


def test_unpublishable_retry_requeues_instead_of_dropping() -> None:
    task = Task(Reject(RedisConnectionError("down"), requeue=False))
    with pytest.raises(Reject) as info:
        run_delivery(task, Runner(RetryLater(1.0, "x")), "job_1")  # type: ignore[arg-type]
    assert info.value.requeue is True


def test_successful_delivery_returns_quietly() -> None:
    run_delivery(Task(Retry()), Runner(None), "job_1")  # type: ignore[arg-type]
