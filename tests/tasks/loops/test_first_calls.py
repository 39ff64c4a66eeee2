"""``FirstCalls`` against a real Redis: a claim that admits the job's first provider call in
the same step (``claim_admit.lua``), and what happens to that verdict when the call takes
it, cannot use it, or never comes."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from gateway import keys
from limits.capacity import Admission, ProviderCapacity, Wait, wait_order
from providers.config import InstanceConfig, Limits
from tasks.jobs.record import JobRecord, JobStatus, JobType, new_job_id
from tasks.jobs.sync_store import SyncJobStore
from tasks.loops.first_calls import FirstCalls


def instance(**limits: int) -> InstanceConfig:
    return InstanceConfig(
        name=f"first-{uuid.uuid4().hex[:8]}", type="openai", limits=Limits(**limits)
    )


@pytest.fixture
def store(isolated_redis: redis.Redis) -> SyncJobStore:
    return SyncJobStore(isolated_redis, lease_seconds=30)


@pytest.fixture
def capacity(isolated_redis: redis.Redis) -> ProviderCapacity:
    return ProviderCapacity(isolated_redis, lease_seconds=30)


def queued_job(
    client: redis.Redis, inst: InstanceConfig, *, tokens: int | None = 40, priority: int = 5
) -> str:
    """A queued completion on ``inst``, its first call needing ``tokens`` (None: unknown)."""
    created = time.time()
    record = JobRecord(
        id=new_job_id(),
        tenant="t",
        type=JobType.COMPLETION,
        status=JobStatus.QUEUED,
        request={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        created_at=created,
        provider=inst.name,
        queue=inst.queue,
        priority=priority,
        first_call=(
            None if tokens is None else f"{inst.name} {wait_order(priority, created)} {tokens}"
        ),
    )
    client.hset(keys.job(record.id), mapping=record.to_redis())  # type: ignore[arg-type]
    return record.id


def on(store: SyncJobStore, capacity: ProviderCapacity, *insts: InstanceConfig) -> FirstCalls:
    """First calls judged on ``insts``' queues."""
    return FirstCalls(store, capacity, {inst.name: inst for inst in insts})


def taken(client: redis.Redis, inst: InstanceConfig) -> tuple[int, int, int]:
    """What the instance has handed out: (rpm entries, in flight, waiting)."""
    return (
        client.zcard(keys.limit(inst.name, "rpm")),
        client.zcard(keys.limit(inst.name, "inflight")),
        client.zcard(keys.limit(inst.name, "waiting")),
    )


def attempts(client: redis.Redis, job_id: str) -> int:
    return int(client.hget(keys.job(job_id), "attempts") or 0)


def test_a_claim_from_the_instances_queue_admits_the_first_call_and_counts_its_attempt(
    isolated_redis: redis.Redis, store: SyncJobStore, capacity: ProviderCapacity
) -> None:
    inst = instance(rpm=10, tpm=1000, max_concurrency=2)
    first_calls = on(store, capacity, inst)
    job_id = queued_job(isolated_redis, inst, tokens=40)
    job, status = first_calls.claim(job_id, "lease", inst.queue)
    assert job is not None and status == "running" and job.status is JobStatus.RUNNING
    # The record as a claim reads it: before the attempt was counted, as before.
    assert job.attempts == 0
    assert attempts(isolated_redis, job_id) == 1
    assert taken(isolated_redis, inst) == (1, 1, 0)
    assert isolated_redis.get(keys.limit(inst.name, "tpm:sum")) == b"40"
    verdict = first_calls.take(job_id, "lease", inst, 40)
    assert isinstance(verdict, Admission) and verdict.tokens_reserved == 40
    # Taken once: the job's later calls are admitted on their own.
    assert first_calls.take(job_id, "lease", inst, 40) is None


def test_a_full_instance_tells_the_claimed_job_to_wait_in_line(
    isolated_redis: redis.Redis, store: SyncJobStore, capacity: ProviderCapacity
) -> None:
    inst = instance(max_concurrency=1)
    first_calls = on(store, capacity, inst)
    busy, waiting = queued_job(isolated_redis, inst), queued_job(isolated_redis, inst)
    first_calls.claim(busy, "a", inst.queue)
    job, _ = first_calls.claim(waiting, "b", inst.queue)
    assert job is not None
    assert attempts(isolated_redis, waiting) == 0  # waiting is not an attempt
    assert isolated_redis.zscore(keys.limit(inst.name, "waiting"), waiting) is not None
    verdict = first_calls.take(waiting, "b", inst, 40)
    assert isinstance(verdict, Wait) and verdict.reason == "concurrency"


def test_a_claimed_waiter_whose_job_ends_first_leaves_the_line(
    isolated_redis: redis.Redis, store: SyncJobStore, capacity: ProviderCapacity
) -> None:
    inst = instance(max_concurrency=1)
    first_calls = on(store, capacity, inst)
    busy, waiting = queued_job(isolated_redis, inst), queued_job(isolated_redis, inst)
    first_calls.claim(busy, "a", inst.queue)
    first_calls.claim(waiting, "b", inst.queue)
    # Its job failed before asking again: it must not stay counted ahead of others.
    first_calls.drop(waiting, "b")
    assert isolated_redis.zscore(keys.limit(inst.name, "waiting"), waiting) is None
    assert isolated_redis.hget(keys.limit(inst.name, "waiting:n"), waiting) is None
    # The busy job's admission is still its own.
    assert isolated_redis.zcard(keys.limit(inst.name, "inflight")) == 1


def test_a_claim_that_got_the_circuits_probe_gives_it_to_the_call(
    isolated_redis: redis.Redis, store: SyncJobStore, capacity: ProviderCapacity
) -> None:
    inst = instance(tpm=10_000)
    first_calls = on(store, capacity, inst)
    # Open, and past its reset time: the next admission is the probe.
    isolated_redis.hset(keys.circuit(inst.name), mapping={"state": "open", "until": 1})
    job_id = queued_job(isolated_redis, inst, tokens=40)
    first_calls.claim(job_id, "lease", inst.queue)
    # More than it reserved: an ordinary admission would be released, but releasing the
    # probe unused would re-open the circuit without a call.
    verdict = first_calls.take(job_id, "lease", inst, 400)
    assert isinstance(verdict, Admission) and verdict.probe
    assert isolated_redis.hget(keys.circuit(inst.name), "state") == b"half_open"


def test_the_verdict_belongs_to_the_delivery_that_claimed(
    isolated_redis: redis.Redis, store: SyncJobStore, capacity: ProviderCapacity
) -> None:
    inst = instance(max_concurrency=2)
    first_calls = on(store, capacity, inst)
    job_id = queued_job(isolated_redis, inst)
    first_calls.claim(job_id, "lease", inst.queue)
    # An earlier delivery of the same job, ending on another thread, leaves it alone.
    first_calls.drop(job_id, "earlier-lease")
    assert first_calls.take(job_id, "other-lease", inst, 40) is None
    assert isolated_redis.zcard(keys.limit(inst.name, "inflight")) == 1
    assert isinstance(first_calls.take(job_id, "lease", inst, 40), Admission)


@pytest.mark.parametrize(
    "case",
    [
        "no first_call",
        "moved to a fallback, delivered there",
        "moved to a fallback, a stale message on its first queue",
        "a message on another instance's queue",
        "unknown queue",
    ],
)
def test_a_plain_claim_when_the_first_call_cannot_be_judged_with_it(
    isolated_redis: redis.Redis, store: SyncJobStore, capacity: ProviderCapacity, case: str
) -> None:
    inst, other = instance(rpm=10), instance(rpm=10)
    first_calls = on(store, capacity, inst, other)
    job_id = queued_job(isolated_redis, inst, tokens=None if case == "no first_call" else 40)
    if case.startswith("moved"):
        # What a move to a fallback changes; first_call still names the first instance.
        isolated_redis.hset(keys.job(job_id), "provider", other.name)
    queue = {
        "no first_call": inst.queue,
        "moved to a fallback, delivered there": other.queue,
        "moved to a fallback, a stale message on its first queue": inst.queue,
        "a message on another instance's queue": other.queue,
        "unknown queue": "llm.nobody",
    }[case]
    job, status = first_calls.claim(job_id, "lease", queue)
    assert job is not None and status == "running"
    assert attempts(isolated_redis, job_id) == 0
    assert taken(isolated_redis, inst) == taken(isolated_redis, other) == (0, 0, 0)
    assert first_calls.take(job_id, "lease", other, 40) is None
    assert first_calls.take(job_id, "lease", inst, 40) is None


def test_a_job_that_is_not_claimed_takes_nothing(
    isolated_redis: redis.Redis, store: SyncJobStore, capacity: ProviderCapacity
) -> None:
    inst = instance(rpm=10)
    first_calls = on(store, capacity, inst)
    job_id = queued_job(isolated_redis, inst)
    assert first_calls.claim(job_id, "a", inst.queue)[0] is not None
    first_calls.take(job_id, "a", inst, 40)
    # A duplicate delivery while the lease is live: refused, and nothing admitted for it.
    assert first_calls.claim(job_id, "b", inst.queue) == (None, "running")
    assert taken(isolated_redis, inst) == (1, 1, 0)
    assert first_calls.claim("job_missing", "c", inst.queue) == (None, "missing")


def test_an_admission_that_reserved_too_little_is_released_unused(
    isolated_redis: redis.Redis, store: SyncJobStore, capacity: ProviderCapacity
) -> None:
    inst = instance(tpm=1000, max_concurrency=1)
    first_calls = on(store, capacity, inst)
    job_id = queued_job(isolated_redis, inst, tokens=40)
    first_calls.claim(job_id, "lease", inst.queue)
    assert first_calls.take(job_id, "lease", inst, 41) is None
    # The slot is free again and its tokens settled at none: the call asks on its own.
    assert isolated_redis.zcard(keys.limit(inst.name, "inflight")) == 0
    assert isolated_redis.get(keys.limit(inst.name, "tpm:sum")) == b"0"
    assert isinstance(capacity.acquire(inst, job_id, 1, 41), Admission)


def test_an_admission_no_call_took_is_released_when_the_run_ends(
    isolated_redis: redis.Redis, store: SyncJobStore, capacity: ProviderCapacity
) -> None:
    inst = instance(max_concurrency=1)
    first_calls = on(store, capacity, inst)
    job_id = queued_job(isolated_redis, inst)
    first_calls.claim(job_id, "lease", inst.queue)
    assert isolated_redis.zcard(keys.limit(inst.name, "inflight")) == 1
    first_calls.drop(job_id, "lease")
    assert isolated_redis.zcard(keys.limit(inst.name, "inflight")) == 0
    assert isolated_redis.get(keys.limit(inst.name, "tpm:sum")) in (None, b"0")
    first_calls.drop(job_id, "lease")  # nothing left: a no-op
    assert first_calls.take(job_id, "lease", inst, 40) is None


def test_first_call_is_gone_from_the_finished_record(
    isolated_redis: redis.Redis, store: SyncJobStore, capacity: ProviderCapacity
) -> None:
    inst = instance(rpm=10)
    first_calls = on(store, capacity, inst)
    job_id = queued_job(isolated_redis, inst)
    first_calls.claim(job_id, "lease", inst.queue)
    assert store.finish(job_id, "lease", JobStatus.SUCCEEDED)[0]
    assert isolated_redis.hget(keys.job(job_id), "first_call") is None
