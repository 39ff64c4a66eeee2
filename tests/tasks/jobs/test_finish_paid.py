"""A final answer's reply recorded as paid for in the same step as the job's finish
(``SyncJobStore.finish(paid=...)``, ``finish_paid.lua``), against a real Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from gateway import keys
from limits.capacity_scripts import CapacityScripts, ReleaseCall, release_call
from tasks.jobs.job_scripts import JobScripts, PaidReply
from tasks.jobs.record import JobRecord, JobStatus, JobType, new_job_id
from tasks.jobs.sync_store import SyncJobStore


@pytest.fixture
def store(isolated_redis: redis.Redis) -> SyncJobStore:
    return SyncJobStore(isolated_redis)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def events(isolated_redis: redis.Redis) -> Iterator[redis.client.PubSub]:
    pubsub = isolated_redis.pubsub()
    pubsub.subscribe(keys.JOB_DONE_CHANNEL)
    pubsub.get_message(timeout=1)
    yield pubsub
    pubsub.close()


def claimed_job(client: redis.Redis, store: SyncJobStore, tenant: str, token: str) -> str:
    record = JobRecord(
        id=new_job_id(),
        tenant=tenant,
        type=JobType.COMPLETION,
        status=JobStatus.QUEUED,
        request={"model": "m", "messages": []},
        created_at=time.time(),
    )
    client.hset(keys.job(record.id), mapping=record.to_redis())  # type: ignore[arg-type]
    client.hset(keys.job(record.id), mapping={"message": b"m", "message_key": "test:q"})
    claimed, _ = store.claim(record.id, token)
    assert claimed is not None
    return record.id


def reply(job_id: str, tenant: str, reply_id: str = "r1") -> PaidReply:
    return PaidReply(
        job_id=job_id,
        tenant=tenant,
        instance="inst",
        model="m",
        prompt_tokens=7,
        completion_tokens=3,
        cost_usd=0.000025,
        reply_id=reply_id,
    )


def month_usage(client: redis.Redis, tenant: str) -> dict[bytes, bytes]:
    return client.hgetall(keys.usage_month(tenant, time.strftime("%Y-%m", time.gmtime())))


def finish(store: SyncJobStore, job_id: str, token: str, paid: PaidReply) -> tuple[bool, str]:
    return store.finish(job_id, token, JobStatus.SUCCEEDED, fields={"result": {"ok": 1}}, paid=paid)


def test_the_answer_is_paid_for_and_the_job_finished_in_one_step(
    isolated_redis: redis.Redis,
    store: SyncJobStore,
    tenant: str,
    events: redis.client.PubSub,
) -> None:
    job_id = claimed_job(isolated_redis, store, tenant, "tok")
    assert finish(store, job_id, "tok", reply(job_id, tenant)) == (True, "succeeded")
    record = store.load(job_id)
    assert record is not None and record.status is JobStatus.SUCCEEDED
    assert (record.paid_prompt_tokens, record.paid_completion_tokens) == (7, 3)
    assert record.paid_cost_usd == pytest.approx(0.000025)
    usage = month_usage(isolated_redis, tenant)
    assert (int(usage[b"input_tokens"]), int(usage[b"output_tokens"])) == (7, 3)
    assert int(usage[b"requests"]) == 1
    assert isolated_redis.zscore(keys.RUNNING, job_id) is None
    message = events.get_message(timeout=2)
    assert message is not None and message["data"].startswith(f"{job_id} succeeded ".encode())


def test_a_job_no_longer_held_keeps_its_state_but_its_reply_is_paid_for(
    isolated_redis: redis.Redis, store: SyncJobStore, tenant: str
) -> None:
    job_id = claimed_job(isolated_redis, store, tenant, "tok")
    store.transition(job_id, {JobStatus.RUNNING}, JobStatus.CANCELLED)
    assert finish(store, job_id, "tok", reply(job_id, tenant)) == (False, "cancelled")
    record = store.load(job_id)
    assert record is not None and record.status is JobStatus.CANCELLED
    assert record.result is None
    assert (record.paid_prompt_tokens, record.paid_completion_tokens) == (7, 3)
    assert int(month_usage(isolated_redis, tenant)[b"input_tokens"]) == 7


def test_a_reply_paid_with_the_finish_and_again_on_its_own_is_counted_once(
    isolated_redis: redis.Redis, store: SyncJobStore, tenant: str
) -> None:
    # The caller pays on its own when it cannot tell whether the finish ran (a lost reply).
    job_id = claimed_job(isolated_redis, store, tenant, "tok")
    paid = reply(job_id, tenant)
    finish(store, job_id, "tok", paid)
    store.paid_reply(paid)
    record = store.load(job_id)
    assert record is not None and record.paid_prompt_tokens == 7
    assert int(month_usage(isolated_redis, tenant)[b"requests"]) == 1


def test_finish_paid_re_sent_after_a_lost_reply_counts_the_reply_once(
    isolated_redis: redis.Redis, store: SyncJobStore, tenant: str
) -> None:
    job_id = claimed_job(isolated_redis, store, tenant, "tok")
    scripts = JobScripts(isolated_redis)
    for _ in range(2):
        scripts.finish_paid(
            job_id,
            "tok",
            JobStatus.SUCCEEDED,
            failures_increment=0,
            reply=reply(job_id, tenant),
            retention_seconds=3600,
            fields=None,
        )
    record = store.load(job_id)
    assert record is not None and record.status is JobStatus.SUCCEEDED
    assert record.paid_completion_tokens == 3
    assert int(month_usage(isolated_redis, tenant)[b"output_tokens"]) == 3


# --- the call released in the same step (finish_paid_release.lua) ----------------------


def admitted_call(client: redis.Redis, instance: str, call: str, reserved: int) -> None:
    """What an admission leaves for one call: its slot and its reserved tokens."""
    client.zadd(keys.limit(instance, "inflight"), {call: time.time() * 1000 + 60_000})
    client.hset(keys.limit(instance, "tpm:n"), call, reserved)
    client.incrby(keys.limit(instance, "tpm:sum"), reserved)


def release_of(instance: str, call: str, used: int) -> ReleaseCall:
    return release_call(
        instance,
        call,
        tokens_used=used,
        outcome="ok",
        cooldown_ms=0,
        failure_threshold=5,
        reset_ms=30_000,
        max_concurrency=4,
    )


def call_state(client: redis.Redis, instance: str, call: str) -> tuple[bool, int, int]:
    """(slot still held, the call's tokens, the window's total)."""
    held = client.zscore(keys.limit(instance, "inflight"), call) is not None
    tokens = int(client.hget(keys.limit(instance, "tpm:n"), call) or -1)
    return held, tokens, int(client.get(keys.limit(instance, "tpm:sum")) or 0)


def test_a_plain_answer_finishes_and_releases_its_call_in_one_step(
    isolated_redis: redis.Redis, store: SyncJobStore, tenant: str
) -> None:
    job_id = claimed_job(isolated_redis, store, tenant, "tok")
    admitted_call(isolated_redis, "inst", "call-1", reserved=1000)
    moved = store.finish(
        job_id,
        "tok",
        JobStatus.SUCCEEDED,
        fields={"result": {"ok": 1}},
        paid=reply(job_id, tenant),
        release=release_of("inst", "call-1", used=10),
    )
    assert moved == (True, "succeeded")
    # The slot is free and the reservation settled to what the reply used.
    assert call_state(isolated_redis, "inst", "call-1") == (False, 10, 10)
    record = store.load(job_id)
    assert record is not None and record.status is JobStatus.SUCCEEDED
    assert record.paid_prompt_tokens == 7


def test_a_call_is_released_with_the_finish_even_when_the_job_is_no_longer_held(
    isolated_redis: redis.Redis, store: SyncJobStore, tenant: str
) -> None:
    # The provider call ended whoever holds the job now: its slot must not stay taken.
    job_id = claimed_job(isolated_redis, store, tenant, "tok")
    store.transition(job_id, {JobStatus.RUNNING}, JobStatus.CANCELLED)
    admitted_call(isolated_redis, "inst", "call-2", reserved=500)
    moved = store.finish(
        job_id,
        "tok",
        JobStatus.SUCCEEDED,
        paid=reply(job_id, tenant),
        release=release_of("inst", "call-2", used=40),
    )
    assert moved == (False, "cancelled")
    assert call_state(isolated_redis, "inst", "call-2") == (False, 40, 40)


def test_releasing_again_after_the_finish_released_changes_nothing(
    isolated_redis: redis.Redis, store: SyncJobStore, tenant: str
) -> None:
    # The worker releases on its own when it cannot tell whether the finish ran.
    job_id = claimed_job(isolated_redis, store, tenant, "tok")
    admitted_call(isolated_redis, "inst", "call-3", reserved=300)
    admitted_call(isolated_redis, "inst", "other-call", reserved=200)
    release = release_of("inst", "call-3", used=30)
    store.finish(job_id, "tok", JobStatus.SUCCEEDED, paid=reply(job_id, tenant), release=release)
    CapacityScripts(isolated_redis).release(release)
    assert call_state(isolated_redis, "inst", "call-3") == (False, 30, 230)
    assert isolated_redis.zscore(keys.limit("inst", "inflight"), "other-call") is not None
