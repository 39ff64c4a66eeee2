"""A store or broker failure during a delivery puts the message back; it is never dropped."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from celery.exceptions import Reject
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from workers.app import run_delivery


@dataclass
class Runner:
    outcome: Exception | None

    def run(self, job_id: str, queue: str | None = None) -> None:
        if self.outcome is not None:
            raise self.outcome


@pytest.mark.parametrize("error", [RedisConnectionError("down"), OperationalError("broker")])
def test_store_or_broker_failure_requeues_the_message(error: Exception) -> None:
    with pytest.raises(Reject) as info:
        run_delivery(Runner(error), "job_1")  # type: ignore[arg-type]
    assert info.value.requeue is True


def test_successful_delivery_returns_quietly() -> None:
    run_delivery(Runner(None), "job_1")  # type: ignore[arg-type]
