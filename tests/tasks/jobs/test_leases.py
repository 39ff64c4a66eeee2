"""Job leases and the deferred set (``tasks.jobs.job_scripts`` through ``SyncJobStore``) against a
real Redis: claim, finish/requeue by the holder only, renew, reap and the pump."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tasks.jobs.job_scripts import JobScripts, PaidReply
from tasks.jobs.record import JobRecord, JobStatus, JobType, new_job_id
from tasks.jobs.sync_store import SyncJobStore

RUNNING = "llmgw:running"
DEFERRED = "llmgw:deferred"
DONE_CHANNEL = "llmgw:events:job-done"


@pytest.fixture
def sync_redis(isolated_redis: redis.Redis) -> redis.Redis:
    return isolated_redis


@pytest.fixture
def store(sync_redis: redis.Redis) -> SyncJobStore:
    return SyncJobStore(sync_redis, lease_seconds=30)


@pytest.fixture
def queue_key(sync_redis: redis.Redis) -> Iterator[str]:
    """A Celery-like queue list, removed after the test (the autouse cleanup skips it)."""
    key = f"test:leases:queue:{uuid.uuid4().hex}"
    yield key
    sync_redis.delete(key)


@pytest.fixture
def events(sync_redis: redis.Redis) -> Iterator[redis.client.PubSub]:
    pubsub = sync_redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    pubsub.subscribe(DONE_CHANNEL)
    assert pubsub.get_message(timeout=1) is None  # consumes the subscribe confirmation
    yield pubsub
    pubsub.close()


def put_job(
    client: redis.Redis,
    queue_key: str,
    *,
    status: JobStatus = JobStatus.QUEUED,
    message: bytes | None = None,
) -> str:
    record = JobRecord(
        id=new_job_id(),
        tenant="t",
        type=JobType.COMPLETION,
        status=status,
        request={"model": "m", "messages": []},
        created_at=time.time(),
    )
    client.hset(f"llmgw:job:{record.id}", mapping=record.to_redis())  # type: ignore[arg-type]
    client.hset(
        f"llmgw:job:{record.id}",
        mapping={"message": message or f"msg:{record.id}".encode(), "message_key": queue_key},
    )
    return record.id


def redis_now_ms(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return float(seconds * 1000 + micros / 1000)


def lapse(client: redis.Redis, job_id: str) -> None:
    """Make a running job's lease lapse now, as if its worker stopped renewing."""
    assert client.zscore(RUNNING, job_id) is not None
    client.zadd(RUNNING, {job_id: 1})


def status_of(store: SyncJobStore, job_id: str) -> JobStatus:
    record = store.load(job_id)
    assert record is not None
    return record.status


def published(pubsub: redis.client.PubSub) -> list[bytes]:
    """The notices' "<job id> <status>" (a finish adds the finished record after them)."""
    out: list[bytes] = []
    while (message := pubsub.get_message(timeout=0.3)) is not None:
        out.append(b" ".join(message["data"].split(b" ", 2)[:2]))
    return out


# --- claim -------------------------------------------------------------------------------


def test_claim_moves_a_queued_job_to_running_under_a_lease(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    job_id = put_job(sync_redis, queue_key)
    sync_redis.zadd(DEFERRED, {job_id: 1})
    before = redis_now_ms(sync_redis)
    record, why = store.claim(job_id, "token-1")
    assert record is not None and why == "running"
    assert record.status is JobStatus.RUNNING and record.started_at is not None
    assert sync_redis.hget(f"llmgw:job:{job_id}", "lease") == b"token-1"
    expiry = sync_redis.zscore(RUNNING, job_id)
    assert expiry is not None and before + 29_000 <= expiry <= before + 31_000
    assert sync_redis.zscore(DEFERRED, job_id) is None  # a claimed job no longer waits


def test_second_claim_while_the_lease_is_live_is_refused(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    job_id = put_job(sync_redis, queue_key)
    assert store.claim(job_id, "token-1")[0] is not None
    assert store.claim(job_id, "token-2") == (None, "running")
    assert sync_redis.hget(f"llmgw:job:{job_id}", "lease") == b"token-1"


def test_claim_takes_over_after_the_lease_lapses(sync_redis: redis.Redis, queue_key: str) -> None:
    store = SyncJobStore(sync_redis, lease_seconds=1)
    job_id = put_job(sync_redis, queue_key)
    assert store.claim(job_id, "token-1")[0] is not None
    assert store.claim(job_id, "token-2") == (None, "running")
    time.sleep(1.1)
    record, _ = store.claim(job_id, "token-2")
    assert record is not None and record.status is JobStatus.RUNNING
    assert sync_redis.hget(f"llmgw:job:{job_id}", "lease") == b"token-2"
    # The old holder can no longer finish it.
    assert store.finish(job_id, "token-1", JobStatus.SUCCEEDED) == (False, "running")


def test_claim_of_a_missing_or_finished_job_says_why(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    sync_redis.zadd(RUNNING, {"job_gone": 1})
    assert store.claim("job_gone", "t") == (None, "missing")
    assert sync_redis.zscore(RUNNING, "job_gone") is None
    done = put_job(sync_redis, queue_key, status=JobStatus.SUCCEEDED)
    assert store.claim(done, "t") == (None, "succeeded")
    cancelled = put_job(sync_redis, queue_key, status=JobStatus.CANCELLED)
    assert store.claim(cancelled, "t") == (None, "cancelled")


# --- finish / requeue --------------------------------------------------------------------


def test_finish_by_a_non_holder_does_nothing(
    sync_redis: redis.Redis,
    store: SyncJobStore,
    queue_key: str,
    events: redis.client.PubSub,
) -> None:
    job_id = put_job(sync_redis, queue_key)
    store.claim(job_id, "holder")
    assert store.finish(job_id, "intruder", JobStatus.SUCCEEDED, fields={"usage": {"x": 1}}) == (
        False,
        "running",
    )
    record = store.load(job_id)
    assert record is not None and record.status is JobStatus.RUNNING and record.usage is None
    assert sync_redis.zscore(RUNNING, job_id) is not None
    assert published(events) == []


def test_finish_by_the_holder_records_publishes_and_leaves_the_running_set(
    sync_redis: redis.Redis,
    store: SyncJobStore,
    queue_key: str,
    events: redis.client.PubSub,
) -> None:
    job_id = put_job(sync_redis, queue_key)
    store.claim(job_id, "holder")
    moved, status = store.finish(
        job_id,
        "holder",
        JobStatus.SUCCEEDED,
        failures_increment=1,
        fields={"result": {"ok": True}, "finished_at": 123.5},
    )
    assert (moved, status) == (True, "succeeded")
    record = store.load(job_id)
    assert record is not None and record.status is JobStatus.SUCCEEDED
    assert record.result == {"ok": True} and record.failures == 1
    assert record.finished_at == 123.5
    assert sync_redis.hget(f"llmgw:job:{job_id}", "lease") is None
    assert sync_redis.zscore(RUNNING, job_id) is None
    assert published(events) == [f"{job_id} succeeded".encode()]
    # Finishing again (a duplicate) is refused: the job is no longer running.
    assert store.finish(job_id, "holder", JobStatus.FAILED) == (False, "succeeded")


def test_a_job_that_ends_without_a_failure_stores_no_failures_count(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    # Left out at 0 (``JobRecord.to_redis``): a zero increment must not write it back.
    job_id = put_job(sync_redis, queue_key)
    store.claim(job_id, "holder")
    assert store.finish(job_id, "holder", JobStatus.SUCCEEDED, failures_increment=0)[0]
    assert not sync_redis.hexists(f"llmgw:job:{job_id}", "failures")
    record = store.load(job_id)
    assert record is not None and record.failures == 0


def _finish(store: SyncJobStore, sync_redis: redis.Redis, job_id: str) -> None:
    store.claim(job_id, "holder")
    assert store.finish(job_id, "holder", JobStatus.SUCCEEDED, fields={"result": {}})[0]


def _cancel(store: SyncJobStore, sync_redis: redis.Redis, job_id: str) -> None:
    assert store.transition(job_id, {JobStatus.QUEUED}, JobStatus.CANCELLED)[0]


def _lose_its_worker_too_often(store: SyncJobStore, sync_redis: redis.Redis, job_id: str) -> None:
    store.claim(job_id, "worker")
    lapse(sync_redis, job_id)
    assert store.reap(recoveries_allowed=0) == (0, 1)


@pytest.mark.parametrize("end", [_finish, _cancel, _lose_its_worker_too_often])
def test_a_job_that_ends_drops_what_only_a_live_job_needs(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str, end: Any
) -> None:
    # The message copy and the queue are there to put the job back on its queue, and
    # attempt_id to count a re-sent attempt once; a terminal job is never queued again and
    # has no lease to attempt under. The copy was a third of a small finished job's bytes.
    job_id = put_job(sync_redis, queue_key)
    sync_redis.hset(f"llmgw:job:{job_id}", mapping={"queue": "llm.openai", "attempt_id": "a1"})
    end(store, sync_redis, job_id)
    assert status_of(store, job_id).terminal
    live_only = ["message", "message_key", "queue", "attempt_id"]
    assert sync_redis.hmget(f"llmgw:job:{job_id}", live_only) == [None] * len(live_only)


def test_a_job_given_back_keeps_its_copy_of_the_celery_message(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    job_id = put_job(sync_redis, queue_key, message=b"kept")
    store.claim(job_id, "holder")
    assert store.requeue(job_id, "holder", delay_seconds=5)
    assert sync_redis.hget(f"llmgw:job:{job_id}", "message") == b"kept"


def test_requeue_by_a_non_holder_does_nothing(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    job_id = put_job(sync_redis, queue_key)
    store.claim(job_id, "holder")
    assert store.requeue(job_id, "intruder", delay_seconds=0) is False
    assert store.requeue(job_id, "intruder", delay_seconds=5) is False
    assert status_of(store, job_id) is JobStatus.RUNNING
    assert sync_redis.llen(queue_key) == 0
    assert sync_redis.zscore(DEFERRED, job_id) is None
    assert sync_redis.zscore(RUNNING, job_id) is not None


def test_requeue_with_delay_defers_the_job_until_now_plus_delay(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    job_id = put_job(sync_redis, queue_key)
    store.claim(job_id, "holder")
    before = redis_now_ms(sync_redis)
    assert store.requeue(job_id, "holder", delay_seconds=7.5, failures_increment=1)
    due = sync_redis.zscore(DEFERRED, job_id)
    assert due is not None and before + 7_400 <= due <= before + 7_600
    record = store.load(job_id)
    assert record is not None and record.status is JobStatus.QUEUED and record.failures == 1
    assert sync_redis.hget(f"llmgw:job:{job_id}", "lease") is None
    assert sync_redis.zscore(RUNNING, job_id) is None
    assert sync_redis.llen(queue_key) == 0


def test_requeue_without_delay_pushes_the_stored_message_to_the_front(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    job_id = put_job(sync_redis, queue_key, message=b"\x00original")
    sync_redis.lpush(queue_key, b"older-waiting-message")
    store.claim(job_id, "holder")
    # A new message (e.g. after a fallback) replaces the stored one before the push.
    assert store.requeue(job_id, "holder", delay_seconds=0, fields={"message": "rerouted"})
    assert sync_redis.rpop(queue_key) == b"rerouted"  # BRPOP-side: consumed first
    assert sync_redis.zscore(DEFERRED, job_id) is None
    assert sync_redis.zscore(RUNNING, job_id) is None
    assert status_of(store, job_id) is JobStatus.QUEUED


def test_requeue_fields_with_none_are_removed(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    job_id = put_job(sync_redis, queue_key)
    sync_redis.hset(f"llmgw:job:{job_id}", "provider", "old")
    store.claim(job_id, "holder")
    assert store.requeue(job_id, "holder", delay_seconds=1, fields={"provider": None})
    assert sync_redis.hget(f"llmgw:job:{job_id}", "provider") is None


# --- renew -------------------------------------------------------------------------------


def test_renew_extends_a_live_lease_and_ignores_jobs_not_running(
    sync_redis: redis.Redis, queue_key: str
) -> None:
    store = SyncJobStore(sync_redis, lease_seconds=1)
    job_id = put_job(sync_redis, queue_key)
    store.claim(job_id, "holder")
    before = sync_redis.zscore(RUNNING, job_id)
    time.sleep(0.2)
    store.renew([(job_id, "holder"), ("job_not_running", "x")])
    after = sync_redis.zscore(RUNNING, job_id)
    assert before is not None and after is not None and after >= before + 150
    assert store.claim(job_id, "other") == (None, "running")
    assert sync_redis.zscore(RUNNING, "job_not_running") is None
    store.renew([])


def test_renew_by_a_worker_that_lost_the_lease_does_not_extend_it(
    sync_redis: redis.Redis, queue_key: str
) -> None:
    store = SyncJobStore(sync_redis, lease_seconds=1)
    job_id = put_job(sync_redis, queue_key)
    store.claim(job_id, "new-holder")
    before = sync_redis.zscore(RUNNING, job_id)
    time.sleep(0.05)
    store.renew([(job_id, "stalled-old-holder")])
    assert sync_redis.zscore(RUNNING, job_id) == before


# --- reap --------------------------------------------------------------------------------


def test_reap_requeues_a_running_job_whose_lease_lapsed(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    job_id = put_job(sync_redis, queue_key, message=b"celery-body")
    live = put_job(sync_redis, queue_key)
    store.claim(job_id, "dead-worker")
    store.claim(live, "live-worker")
    lapse(sync_redis, job_id)
    assert store.reap(recoveries_allowed=2) == (1, 0)
    record = store.load(job_id)
    assert record is not None and record.status is JobStatus.QUEUED and record.recoveries == 1
    assert sync_redis.hget(f"llmgw:job:{job_id}", "lease") is None
    assert sync_redis.lrange(queue_key, 0, -1) == [b"celery-body"]
    assert sync_redis.zscore(RUNNING, job_id) is None
    # The job with a live lease is left alone.
    assert status_of(store, live) is JobStatus.RUNNING
    assert sync_redis.zscore(RUNNING, live) is not None
    # The dead worker cannot finish it any more.
    assert store.finish(job_id, "dead-worker", JobStatus.SUCCEEDED) == (False, "queued")


def test_reap_fails_a_job_that_lost_its_worker_too_often(
    sync_redis: redis.Redis,
    store: SyncJobStore,
    queue_key: str,
    events: redis.client.PubSub,
) -> None:
    job_id = put_job(sync_redis, queue_key)
    for recovery in (1, 2):
        store.claim(job_id, f"worker-{recovery}")
        lapse(sync_redis, job_id)
        assert store.reap(recoveries_allowed=2) == (1, 0)
    assert sync_redis.llen(queue_key) == 2
    store.claim(job_id, "worker-3")
    lapse(sync_redis, job_id)
    assert store.reap(recoveries_allowed=2) == (0, 1)
    record = store.load(job_id)
    assert record is not None and record.status is JobStatus.FAILED
    assert record.recoveries == 3 and record.finished_at is not None
    assert record.error is not None and record.error["type"] == "worker_lost"
    assert sync_redis.llen(queue_key) == 2  # no third push
    assert sync_redis.zscore(RUNNING, job_id) is None
    assert published(events) == [f"{job_id} failed".encode()]


def test_reap_drops_running_entries_of_jobs_no_longer_running(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    cancelled = put_job(sync_redis, queue_key, status=JobStatus.CANCELLED)
    done = put_job(sync_redis, queue_key, status=JobStatus.SUCCEEDED)
    sync_redis.zadd(RUNNING, {cancelled: 1, done: 1, "job_missing": 1})
    assert store.reap(recoveries_allowed=2) == (0, 0)
    assert sync_redis.zcard(RUNNING) == 0
    assert sync_redis.llen(queue_key) == 0
    assert status_of(store, cancelled) is JobStatus.CANCELLED
    assert status_of(store, done) is JobStatus.SUCCEEDED


def test_reap_takes_at_most_one_batch(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    ids = [put_job(sync_redis, queue_key) for _ in range(3)]
    for job_id in ids:
        store.claim(job_id, "dead")
        lapse(sync_redis, job_id)
    assert store.reap(recoveries_allowed=2, batch=2) == (2, 0)
    assert store.reap(recoveries_allowed=2, batch=2) == (1, 0)
    assert sync_redis.llen(queue_key) == 3


# --- pump --------------------------------------------------------------------------------


def test_pump_pushes_only_due_queued_jobs_earliest_due_consumed_first(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    earliest = put_job(sync_redis, queue_key, message=b"earliest")
    later = put_job(sync_redis, queue_key, message=b"later")
    cancelled = put_job(sync_redis, queue_key, status=JobStatus.CANCELLED, message=b"cancelled")
    future = put_job(sync_redis, queue_key, message=b"future")
    now = redis_now_ms(sync_redis)
    sync_redis.zadd(
        DEFERRED,
        {earliest: now - 3_000, cancelled: now - 2_000, later: now - 1_000, future: now + 60_000},
    )
    sync_redis.lpush(queue_key, b"already-queued")
    assert store.pump().count == 3
    # kombu consumes with BRPOP: from the right end.
    consumed = [sync_redis.rpop(queue_key) for _ in range(sync_redis.llen(queue_key))]
    assert consumed == [b"earliest", b"later", b"already-queued"]
    assert sync_redis.zrange(DEFERRED, 0, -1) == [future.encode()]
    assert store.pump().count == 0


def test_pump_says_when_the_next_deferred_job_is_due_so_the_worker_sleeps_until_then(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    assert store.pump().next_due_seconds is None  # nothing deferred: sleep as long as allowed
    soon, later = put_job(sync_redis, queue_key), put_job(sync_redis, queue_key)
    now = redis_now_ms(sync_redis)
    sync_redis.zadd(DEFERRED, {soon: now + 20_000, later: now + 60_000})
    pumped = store.pump()
    assert pumped.count == 0
    assert pumped.next_due_seconds is not None
    assert 15 < pumped.next_due_seconds <= 20
    sync_redis.zadd(DEFERRED, {soon: now - 1_000})
    pumped = store.pump()
    assert pumped.count == 1
    assert pumped.next_due_seconds is not None and 55 < pumped.next_due_seconds <= 60


def test_pump_drops_a_due_job_that_was_claimed_meanwhile(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    job_id = put_job(sync_redis, queue_key)
    store.claim(job_id, "holder")
    sync_redis.zadd(DEFERRED, {job_id: 1})  # a stale entry
    assert store.pump().count == 1
    assert sync_redis.llen(queue_key) == 0
    assert sync_redis.zscore(DEFERRED, job_id) is None


def test_pump_takes_a_cancelled_job_out_of_its_instance_waiting_line(
    sync_redis: redis.Redis, queue_key: str
) -> None:
    store = SyncJobStore(sync_redis)
    job_id = put_job(sync_redis, queue_key)
    sync_redis.hset(f"llmgw:job:{job_id}", mapping={"status": "cancelled", "provider": "inst"})
    sync_redis.zadd("llmgw:limit:inst:waiting", {job_id: 1})
    sync_redis.zadd("llmgw:limit:inst:waiting:until", {job_id: 1e15})
    sync_redis.hset("llmgw:limit:inst:waiting:n", job_id, 10)
    sync_redis.zadd(DEFERRED, {job_id: 0})
    assert store.pump().count == 1
    assert sync_redis.zcard("llmgw:limit:inst:waiting") == 0
    assert sync_redis.zcard("llmgw:limit:inst:waiting:until") == 0
    assert sync_redis.hlen("llmgw:limit:inst:waiting:n") == 0
    assert sync_redis.llen(queue_key) == 0


def test_claim_repeated_with_the_same_token_stands(
    store: SyncJobStore, sync_redis: redis.Redis, queue_key: str
) -> None:
    # redis-py re-sends a script whose reply was lost: the claim must not turn into "busy".
    job_id = put_job(sync_redis, queue_key)
    first, _ = store.claim(job_id, "tok")
    again, status = store.claim(job_id, "tok")
    assert first is not None and again is not None and status == "running"


def test_claim_of_a_job_waiting_in_the_deferred_set_is_refused(
    store: SyncJobStore, sync_redis: redis.Redis, queue_key: str
) -> None:
    job_id = put_job(sync_redis, queue_key)
    store.claim(job_id, "holder")
    store.requeue(job_id, "holder", delay_seconds=30)
    assert store.claim(job_id, "duplicate") == (None, "deferred")


def test_an_attempt_is_counted_by_the_holder_before_it_starts(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    job_id = put_job(sync_redis, queue_key)
    store.claim(job_id, "holder")
    assert store.start_attempt(job_id, "holder") and store.start_attempt(job_id, "holder")
    record = store.load(job_id)
    assert record is not None and (record.attempts, record.failures) == (2, 0)


def test_no_attempt_starts_for_a_worker_that_lost_the_job(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    job_id = put_job(sync_redis, queue_key)
    store.claim(job_id, "stalled")
    lapse(sync_redis, job_id)
    store.reap(recoveries_allowed=3)
    store.claim(job_id, "rescuer")
    assert store.start_attempt(job_id, "stalled") is False
    cancelled = put_job(sync_redis, queue_key)
    store.claim(cancelled, "holder")
    store.transition(cancelled, {JobStatus.RUNNING}, JobStatus.CANCELLED)
    assert store.start_attempt(cancelled, "holder") is False
    assert [store.load(j).attempts for j in (job_id, cancelled)] == [0, 0]  # type: ignore[union-attr]


def test_an_attempt_resent_after_a_lost_reply_is_counted_once(
    sync_redis: redis.Redis, queue_key: str
) -> None:
    scripts = JobScripts(sync_redis)
    job_id = put_job(sync_redis, queue_key)
    SyncJobStore(sync_redis).claim(job_id, "holder")
    assert [int(scripts.start_attempt(job_id, "holder", "call-1")[1]) for _ in range(2)] == [1, 1]
    assert int(scripts.start_attempt(job_id, "holder", "call-2")[1]) == 2


def test_a_paid_reply_is_recorded_whoever_holds_the_job(
    sync_redis: redis.Redis, store: SyncJobStore, queue_key: str
) -> None:
    job_id = put_job(sync_redis, queue_key)
    store.claim(job_id, "holder")
    store.transition(job_id, {JobStatus.RUNNING}, JobStatus.CANCELLED)
    store.paid_reply(_reply(job_id, 10, 4, 0.0000123))
    store.paid_reply(_reply(job_id, 1, 1, None))
    record = store.load(job_id)
    assert record is not None
    assert (record.paid_prompt_tokens, record.paid_completion_tokens) == (11, 5)
    assert record.paid_cost_usd == pytest.approx(0.0000123)


def test_a_paid_reply_for_an_expired_record_does_not_recreate_it(
    sync_redis: redis.Redis, store: SyncJobStore
) -> None:
    store.paid_reply(_reply("job_gone", 10, 4, 0.5))
    assert not sync_redis.exists("llmgw:job:job_gone")


def _reply(job_id: str, prompt: int, completion: int, cost: float | None) -> PaidReply:
    return PaidReply(
        job_id=job_id,
        tenant="t",
        instance="i",
        model="m",
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost,
        reply_id=uuid.uuid4().hex,
    )
