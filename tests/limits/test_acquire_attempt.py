"""``ProviderCapacity.acquire_attempt`` against a real Redis: the admission and the job's
attempt count in one step, only while the caller's lease holds the job."""

from __future__ import annotations

import uuid

import pytest
import redis

from gateway import keys
from limits.capacity import Admission, NotHeld, ProviderCapacity, Wait
from providers.config import InstanceConfig, Limits


@pytest.fixture
def capacity(isolated_redis: redis.Redis) -> ProviderCapacity:
    return ProviderCapacity(isolated_redis, lease_seconds=30)


def instance(**limits: int) -> InstanceConfig:
    return InstanceConfig(
        name=f"attempt-{uuid.uuid4().hex[:8]}", type="openai", limits=Limits(**limits)
    )


def running_job(client: redis.Redis, lease: str, status: str = "running") -> str:
    job_id = f"job_{uuid.uuid4().hex}"
    client.hset(keys.job(job_id), mapping={"status": status, "lease": lease, "attempts": 0})
    return job_id


def attempts(client: redis.Redis, job_id: str) -> int:
    return int(client.hget(keys.job(job_id), "attempts") or 0)


def taken(client: redis.Redis, inst: InstanceConfig) -> tuple[int, int, int]:
    """What the instance has handed out: (rpm entries, in flight, waiting)."""
    return (
        client.zcard(keys.limit(inst.name, "rpm")),
        client.zcard(keys.limit(inst.name, "inflight")),
        client.zcard(keys.limit(inst.name, "waiting")),
    )


def test_an_admitted_call_is_counted_as_the_jobs_attempt_in_the_same_step(
    isolated_redis: redis.Redis, capacity: ProviderCapacity
) -> None:
    inst = instance(rpm=10, max_concurrency=2)
    job_id = running_job(isolated_redis, "tok")
    verdict = capacity.acquire_attempt(inst, job_id, 1, 5, lease="tok")
    assert isinstance(verdict, Admission)
    assert attempts(isolated_redis, job_id) == 1
    assert taken(isolated_redis, inst) == (1, 1, 0)
    assert isolated_redis.hget(keys.job(job_id), "attempt_id")


def test_a_call_told_to_wait_is_not_an_attempt(
    isolated_redis: redis.Redis, capacity: ProviderCapacity
) -> None:
    inst = instance(max_concurrency=1)
    first = running_job(isolated_redis, "a")
    second = running_job(isolated_redis, "b")
    assert isinstance(capacity.acquire_attempt(inst, first, 1, 1, lease="a"), Admission)
    verdict = capacity.acquire_attempt(inst, second, 2, 1, lease="b")
    assert isinstance(verdict, Wait) and verdict.reason == "concurrency"
    assert (attempts(isolated_redis, first), attempts(isolated_redis, second)) == (1, 0)


@pytest.mark.parametrize(
    ("status", "lease"), [("running", "someone-else"), ("cancelled", "tok"), ("queued", "tok")]
)
def test_a_job_the_lease_no_longer_holds_takes_nothing_and_is_not_called(
    isolated_redis: redis.Redis, capacity: ProviderCapacity, status: str, lease: str
) -> None:
    inst = instance(rpm=10, tpm=1000, max_concurrency=1)
    job_id = running_job(isolated_redis, lease, status)
    verdict = capacity.acquire_attempt(inst, job_id, 1, 5, lease="tok")
    assert verdict == NotHeld(status)
    assert attempts(isolated_redis, job_id) == 0
    assert taken(isolated_redis, inst) == (0, 0, 0)
    assert isolated_redis.get(keys.limit(inst.name, "tpm:sum")) is None


def test_a_waiter_that_lost_its_lease_leaves_the_line(
    isolated_redis: redis.Redis, capacity: ProviderCapacity
) -> None:
    inst = instance(max_concurrency=1)
    busy = running_job(isolated_redis, "a")
    waiter = running_job(isolated_redis, "b")
    assert isinstance(capacity.acquire_attempt(inst, busy, 1, 1, lease="a"), Admission)
    assert isinstance(capacity.acquire_attempt(inst, waiter, 2, 1, lease="b"), Wait)
    assert taken(isolated_redis, inst)[2] == 1
    isolated_redis.hset(keys.job(waiter), "status", "cancelled")
    assert capacity.acquire_attempt(inst, waiter, 2, 1, lease="b") == NotHeld("cancelled")
    assert taken(isolated_redis, inst)[2] == 0
    assert isolated_redis.hlen(keys.limit(inst.name, "waiting:n")) == 0


def test_a_gone_record_is_not_held(isolated_redis: redis.Redis, capacity: ProviderCapacity) -> None:
    inst = instance(rpm=10)
    assert capacity.acquire_attempt(inst, "job_gone", 1, 1, lease="tok") == NotHeld("")
    assert not isolated_redis.exists(keys.job("job_gone"))
    assert taken(isolated_redis, inst) == (0, 0, 0)
