"""``ProviderCapacity`` against a real Redis: rpm/tpm sliding windows, in-flight leases,
ordered waiters, the 429 cooldown, the circuit breaker and waking deferred waiters."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from limits.capacity import (
    Admission,
    Outcome,
    ProviderCapacity,
    RequestTooLarge,
    Wait,
    estimate_tokens,
    wait_order,
)
from providers.config import CircuitConfig, InstanceConfig, Limits
from providers.types import ChatRequest, Message, TextPart, ToolCall, ToolDefinition


@pytest.fixture
def sync_redis(isolated_redis: redis.Redis) -> redis.Redis:
    return isolated_redis


@pytest.fixture
def capacity(sync_redis: redis.Redis) -> ProviderCapacity:
    return ProviderCapacity(sync_redis, lease_seconds=30)


@pytest.fixture
def queue_key(sync_redis: redis.Redis) -> Iterator[str]:
    """A Celery-like queue list, removed after the test (the autouse cleanup skips it)."""
    key = f"test:capacity:queue:{uuid.uuid4().hex}"
    yield key
    sync_redis.delete(key)


def instance(
    name: str,
    *,
    rpm: int | None = None,
    tpm: int | None = None,
    max_concurrency: int | None = None,
    failure_threshold: int = 5,
    reset_seconds: float = 30.0,
) -> InstanceConfig:
    """A distinct instance per test, so no test sees another's windows."""
    return InstanceConfig(
        name=f"{name}-{uuid.uuid4().hex[:8]}",
        type="openai",
        limits=Limits(rpm=rpm, tpm=tpm, max_concurrency=max_concurrency),
        circuit=CircuitConfig(failure_threshold=failure_threshold, reset_seconds=reset_seconds),
    )


def admitted(verdict: Admission | Wait) -> Admission:
    assert isinstance(verdict, Admission), verdict
    return verdict


def waited(verdict: Admission | Wait, reason: str) -> Wait:
    assert isinstance(verdict, Wait), verdict
    assert verdict.reason == reason, verdict
    return verdict


def age_out(client: redis.Redis, inst: InstanceConfig, *admissions: Admission) -> None:
    """Move admissions' entries to the far past of the rpm/tpm windows, as if 60 s passed."""
    for part in ("rpm", "tpm"):
        key = f"llmgw:limit:{inst.name}:{part}"
        for admission in admissions:
            if client.zscore(key, admission.token) is not None:
                client.zadd(key, {admission.token: 1})


# --- rpm ---------------------------------------------------------------------------------


def test_rpm_admits_up_to_the_limit_then_waits_for_the_oldest_to_leave_the_window(
    capacity: ProviderCapacity,
) -> None:
    inst = instance("rpm", rpm=5)
    for i in range(5):
        admitted(capacity.acquire(inst, f"job-{i}", i, 1))
    wait = waited(capacity.acquire(inst, "job-5", 5, 1), "rpm")
    assert 59 <= wait.seconds <= 60.5


def test_instance_without_limits_always_admits(capacity: ProviderCapacity) -> None:
    inst = instance("free")
    verdicts = [capacity.acquire(inst, f"job-{i}", i, 10_000) for i in range(50)]
    assert all(isinstance(v, Admission) and not v.probe for v in verdicts)


def test_rpm_is_exact_under_concurrent_acquirers(sync_redis: redis.Redis) -> None:
    inst = instance("rpm-race", rpm=20)
    results: list[Admission | Wait] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        capacity = ProviderCapacity(sync_redis, lease_seconds=30)
        start.wait()
        for i in range(15):
            verdict = capacity.acquire(inst, f"job-{n}-{i}", n * 100 + i, 1)
            with lock:
                results.append(verdict)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 120
    assert sum(isinstance(v, Admission) for v in results) == 20
    assert all(v.reason == "rpm" for v in results if isinstance(v, Wait))


# --- ordering ----------------------------------------------------------------------------


def test_freed_rpm_slot_goes_to_the_older_waiter_not_the_newer_one(
    sync_redis: redis.Redis, capacity: ProviderCapacity
) -> None:
    inst = instance("order", rpm=1)
    first = admitted(capacity.acquire(inst, "first", 1, 1))
    waited(capacity.acquire(inst, "a", 100, 1), "rpm")
    waited(capacity.acquire(inst, "b", 200, 1), "rpm")
    age_out(sync_redis, inst, first)
    # The window has room for one call, but A is waiting ahead of B.
    waited(capacity.acquire(inst, "b", 200, 1), "rpm")
    admitted(capacity.acquire(inst, "a", 100, 1))
    waited(capacity.acquire(inst, "b", 200, 1), "rpm")


def test_higher_priority_waiter_goes_before_an_older_lower_priority_one(
    sync_redis: redis.Redis, capacity: ProviderCapacity
) -> None:
    inst = instance("prio", rpm=1)
    now = time.time()
    old_low = wait_order(priority=0, created_at=now - 100)
    new_high = wait_order(priority=5, created_at=now)
    assert new_high < old_low
    first = admitted(capacity.acquire(inst, "first", 1, 1))
    waited(capacity.acquire(inst, "old-low", old_low, 1), "rpm")
    waited(capacity.acquire(inst, "new-high", new_high, 1), "rpm")
    age_out(sync_redis, inst, first)
    waited(capacity.acquire(inst, "old-low", old_low, 1), "rpm")
    admitted(capacity.acquire(inst, "new-high", new_high, 1))


def test_wait_order_ranks_priority_before_submission_time() -> None:
    assert wait_order(0, 1_000.0) < wait_order(0, 1_000.5)
    assert wait_order(9, 2_000_000_000.0) < wait_order(8, 1_000.0)


# --- concurrency -------------------------------------------------------------------------


def test_max_concurrency_denies_beyond_limit_and_release_admits_the_next(
    capacity: ProviderCapacity,
) -> None:
    inst = instance("conc", max_concurrency=2)
    a = admitted(capacity.acquire(inst, "a", 1, 1))
    admitted(capacity.acquire(inst, "b", 2, 1))
    wait = waited(capacity.acquire(inst, "c", 3, 1), "concurrency")
    assert 0 < wait.seconds <= 5.0
    assert capacity.release(inst, a, Outcome.OK) == "closed"
    admitted(capacity.acquire(inst, "c", 3, 1))
    waited(capacity.acquire(inst, "d", 4, 1), "concurrency")


def test_lapsed_in_flight_lease_frees_its_slot(sync_redis: redis.Redis) -> None:
    capacity = ProviderCapacity(sync_redis, lease_seconds=0.5)
    inst = instance("lapse", max_concurrency=1)
    admitted(capacity.acquire(inst, "a", 1, 1))
    wait = waited(capacity.acquire(inst, "b", 2, 1), "concurrency")
    assert wait.seconds <= 0.5  # the poll is capped by the lease's expiry
    time.sleep(0.6)  # the holder died: no renew
    admitted(capacity.acquire(inst, "b", 2, 1))


def test_renew_keeps_an_in_flight_slot_past_its_lease(sync_redis: redis.Redis) -> None:
    capacity = ProviderCapacity(sync_redis, lease_seconds=1.0)
    inst = instance("renew", max_concurrency=1)
    a = admitted(capacity.acquire(inst, "a", 1, 1))
    key = f"llmgw:limit:{inst.name}:inflight"
    before = sync_redis.zscore(key, a.token)
    time.sleep(0.2)
    capacity.renew([a])
    after = sync_redis.zscore(key, a.token)
    assert before is not None and after is not None and after >= before + 150
    waited(capacity.acquire(inst, "b", 2, 1), "concurrency")


def test_renewed_slot_outlives_the_in_flight_key_expiry_of_its_acquire(
    sync_redis: redis.Redis,
) -> None:
    """A long call renewed by a live worker keeps its slot, however long it runs — even
    when nothing else is admitted on the instance meanwhile."""
    capacity = ProviderCapacity(sync_redis, lease_seconds=0.6)
    inst = instance("long-call", max_concurrency=1)
    a = admitted(capacity.acquire(inst, "a", 1, 1))
    deadline = time.monotonic() + 2.6  # more than 4 leases
    while time.monotonic() < deadline:
        time.sleep(0.1)
        capacity.renew([a])
        waited(capacity.acquire(inst, "b", 2, 1), "concurrency")


def test_renew_of_nothing_is_a_no_op(capacity: ProviderCapacity) -> None:
    capacity.renew([])


# --- tpm ---------------------------------------------------------------------------------


def test_tpm_reserves_tokens_and_denies_a_request_that_would_exceed(
    capacity: ProviderCapacity,
) -> None:
    inst = instance("tpm", tpm=100)
    admitted(capacity.acquire(inst, "a", 1, 60))
    admitted(capacity.acquire(inst, "b", 2, 30))
    wait = waited(capacity.acquire(inst, "c", 3, 20), "tpm")
    assert 59 <= wait.seconds <= 60.5


def test_release_with_fewer_tokens_used_frees_the_difference(capacity: ProviderCapacity) -> None:
    inst = instance("tpm-settle", tpm=100)
    a = admitted(capacity.acquire(inst, "a", 1, 80))
    waited(capacity.acquire(inst, "b", 2, 50), "tpm")
    capacity.release(inst, a, Outcome.OK, tokens_used=30)
    admitted(capacity.acquire(inst, "b", 2, 50))  # 30 + 50 <= 100
    waited(capacity.acquire(inst, "c", 3, 21), "tpm")  # 30 + 50 + 21 > 100


def test_release_without_tokens_used_keeps_the_reservation(capacity: ProviderCapacity) -> None:
    inst = instance("tpm-keep", tpm=100)
    a = admitted(capacity.acquire(inst, "a", 1, 80))
    capacity.release(inst, a, Outcome.OK)
    waited(capacity.acquire(inst, "b", 2, 30), "tpm")


def test_tokens_leave_the_tpm_window_after_a_minute(
    sync_redis: redis.Redis, capacity: ProviderCapacity
) -> None:
    inst = instance("tpm-window", tpm=100)
    a = admitted(capacity.acquire(inst, "a", 1, 90))
    waited(capacity.acquire(inst, "b", 2, 90), "tpm")
    age_out(sync_redis, inst, a)
    admitted(capacity.acquire(inst, "b", 2, 90))


def test_small_tpm_request_does_not_overtake_a_bigger_one_waiting_ahead(
    capacity: ProviderCapacity,
) -> None:
    inst = instance("tpm-order", tpm=100)
    admitted(capacity.acquire(inst, "a", 1, 60))
    waited(capacity.acquire(inst, "big", 2, 50), "tpm")
    # 60 + 10 would fit alone, but not together with the 50 waiting ahead.
    waited(capacity.acquire(inst, "small", 3, 10), "tpm")


def test_request_larger_than_the_whole_tpm_is_refused(capacity: ProviderCapacity) -> None:
    inst = instance("tpm-huge", tpm=100)
    with pytest.raises(RequestTooLarge) as info:
        capacity.acquire(inst, "huge", 1, 101)
    assert info.value.needed == 101 and info.value.tpm == 100
    # It is not left waiting ahead of others.
    admitted(capacity.acquire(inst, "a", 2, 100))


def test_estimate_tokens_is_prompt_chars_over_four_plus_the_reply() -> None:
    request = ChatRequest(
        model="m",
        messages=(
            Message(role="system", content=(TextPart("a" * 6),)),
            Message(role="user", content=(TextPart("b" * 7),)),
        ),
        max_tokens=50,
    )
    assert estimate_tokens(request, reply_estimate=1024) == 4 + 50  # ceil(13 / 4) = 4
    no_max = ChatRequest(model="m", messages=request.messages)
    assert estimate_tokens(no_max, reply_estimate=1024) == 4 + 1024
    assert estimate_tokens(ChatRequest(model="m", messages=()), reply_estimate=7) == 7


def test_estimate_tokens_counts_tool_calls_and_tool_definitions() -> None:
    request = ChatRequest(
        model="m",
        messages=(
            Message(
                role="assistant",
                tool_calls=(ToolCall(id="c1", name="abcd", arguments="1234"),),
            ),
        ),
        tools=(ToolDefinition(name="ab", description="cd", parameters={}),),
        max_tokens=1,
    )
    chars = 4 + 4 + 2 + 2 + len(str({}))
    assert estimate_tokens(request, reply_estimate=1024) == -(-chars // 4) + 1


# --- cooldown ----------------------------------------------------------------------------


def test_rate_limited_release_cools_the_instance_down_for_everyone(
    capacity: ProviderCapacity,
) -> None:
    inst = instance("cool")
    a = admitted(capacity.acquire(inst, "a", 1, 1))
    capacity.release(inst, a, Outcome.RATE_LIMITED, tokens_used=0, cooldown_seconds=2)
    for job in ("b", "c"):
        wait = waited(capacity.acquire(inst, job, 2, 1), "cooldown")
        assert 1.5 <= wait.seconds <= 2.0


def test_shorter_cooldown_does_not_cut_a_longer_one(capacity: ProviderCapacity) -> None:
    inst = instance("cool-max")
    a = admitted(capacity.acquire(inst, "a", 1, 1))
    b = admitted(capacity.acquire(inst, "b", 2, 1))
    capacity.release(inst, a, Outcome.RATE_LIMITED, cooldown_seconds=10)
    capacity.release(inst, b, Outcome.RATE_LIMITED, cooldown_seconds=1)
    wait = waited(capacity.acquire(inst, "c", 3, 1), "cooldown")
    assert wait.seconds > 9


def test_cooldown_ends(capacity: ProviderCapacity) -> None:
    inst = instance("cool-end")
    a = admitted(capacity.acquire(inst, "a", 1, 1))
    capacity.release(inst, a, Outcome.RATE_LIMITED, cooldown_seconds=1.0)
    waited(capacity.acquire(inst, "b", 2, 1), "cooldown")
    time.sleep(1.1)
    admitted(capacity.acquire(inst, "b", 2, 1))


# --- circuit breaker ---------------------------------------------------------------------


def fail_until_open(capacity: ProviderCapacity, inst: InstanceConfig) -> None:
    states = []
    for i in range(inst.circuit.failure_threshold):
        admission = admitted(capacity.acquire(inst, f"fail-{i}", i, 1))
        states.append(capacity.release(inst, admission, Outcome.FAILED))
    assert states == ["closed"] * (inst.circuit.failure_threshold - 1) + ["open"]


def concurrent_acquires(
    client: redis.Redis, inst: InstanceConfig, n: int
) -> list[Admission | Wait]:
    results: list[Admission | Wait] = []
    lock = threading.Lock()
    start = threading.Barrier(n)

    def worker(i: int) -> None:
        capacity = ProviderCapacity(client, lease_seconds=30)
        start.wait()
        verdict = capacity.acquire(inst, f"contender-{i}", 1000 + i, 1)
        with lock:
            results.append(verdict)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_threshold_consecutive_failures_open_the_circuit(capacity: ProviderCapacity) -> None:
    inst = instance("circuit", failure_threshold=2, reset_seconds=5)
    fail_until_open(capacity, inst)
    wait = waited(capacity.acquire(inst, "next", 10, 1), "circuit_open")
    assert 4 <= wait.seconds <= 5


def test_a_success_between_failures_resets_the_count(capacity: ProviderCapacity) -> None:
    inst = instance("circuit-reset", failure_threshold=2, reset_seconds=5)
    for outcome in (Outcome.FAILED, Outcome.OK, Outcome.FAILED):
        admission = admitted(capacity.acquire(inst, "j", 1, 1))
        assert capacity.release(inst, admission, outcome) == "closed"
    admitted(capacity.acquire(inst, "j", 1, 1))


def test_after_reset_exactly_one_probe_is_admitted_and_success_closes(
    sync_redis: redis.Redis, capacity: ProviderCapacity
) -> None:
    inst = instance("probe-ok", failure_threshold=2, reset_seconds=0.5)
    fail_until_open(capacity, inst)
    time.sleep(0.6)
    results = concurrent_acquires(sync_redis, inst, 8)
    probes = [v for v in results if isinstance(v, Admission)]
    assert len(probes) == 1 and probes[0].probe
    waits = [v for v in results if isinstance(v, Wait)]
    assert len(waits) == 7 and {w.reason for w in waits} == {"circuit_probing"}
    assert capacity.release(inst, probes[0], Outcome.OK) == "closed"
    after = admitted(capacity.acquire(inst, "after", 1, 1))
    assert not after.probe


def test_failed_probe_reopens_the_circuit(capacity: ProviderCapacity) -> None:
    inst = instance("probe-fail", failure_threshold=2, reset_seconds=0.5)
    fail_until_open(capacity, inst)
    time.sleep(0.6)
    probe = admitted(capacity.acquire(inst, "probe", 1, 1))
    assert probe.probe
    waited(capacity.acquire(inst, "other", 2, 1), "circuit_probing")
    assert capacity.release(inst, probe, Outcome.FAILED) == "open"
    wait = waited(capacity.acquire(inst, "other", 2, 1), "circuit_open")
    assert 0 < wait.seconds <= 0.5
    time.sleep(0.6)
    assert admitted(capacity.acquire(inst, "probe2", 3, 1)).probe


# --- waking waiters ----------------------------------------------------------------------


def put_waiting_job(client: redis.Redis, job_id: str, queue_key: str, status: str) -> None:
    client.hset(
        f"llmgw:job:{job_id}",
        mapping={"status": status, "message": b"\x00celery-message", "message_key": queue_key},
    )
    client.zadd("llmgw:deferred", {job_id: 9_999_999_999_999})


def test_release_pushes_the_head_waiters_message_at_once(
    sync_redis: redis.Redis, capacity: ProviderCapacity, queue_key: str
) -> None:
    inst = instance("wake", max_concurrency=1)
    running = admitted(capacity.acquire(inst, "running", 1, 1))
    waited(capacity.acquire(inst, "head", 2, 1), "concurrency")
    waited(capacity.acquire(inst, "second", 3, 1), "concurrency")
    put_waiting_job(sync_redis, "head", queue_key, "queued")
    put_waiting_job(sync_redis, "second", queue_key, "queued")
    capacity.release(inst, running, Outcome.OK)
    assert sync_redis.lrange(queue_key, 0, -1) == [b"\x00celery-message"]
    assert sync_redis.zscore("llmgw:deferred", "head") is None
    assert sync_redis.zscore("llmgw:deferred", "second") is not None
    admitted(capacity.acquire(inst, "head", 2, 1))


def test_release_drops_a_cancelled_head_waiter_without_pushing(
    sync_redis: redis.Redis, capacity: ProviderCapacity, queue_key: str
) -> None:
    inst = instance("wake-cancelled", max_concurrency=1)
    running = admitted(capacity.acquire(inst, "running", 1, 1))
    waited(capacity.acquire(inst, "head", 2, 1), "concurrency")
    put_waiting_job(sync_redis, "head", queue_key, "cancelled")
    capacity.release(inst, running, Outcome.OK)
    assert sync_redis.llen(queue_key) == 0
    assert sync_redis.zscore("llmgw:deferred", "head") is None


def test_releasing_twice_wakes_no_second_waiter(
    sync_redis: redis.Redis, capacity: ProviderCapacity, queue_key: str
) -> None:
    inst = instance("wake-once", max_concurrency=1)
    running = admitted(capacity.acquire(inst, "running", 1, 1))
    waited(capacity.acquire(inst, "head", 2, 1), "concurrency")
    capacity.release(inst, running, Outcome.OK)
    put_waiting_job(sync_redis, "head", queue_key, "queued")
    capacity.release(inst, running, Outcome.OK)
    assert sync_redis.llen(queue_key) == 0
    assert sync_redis.zscore("llmgw:deferred", "head") is not None


def test_waiters_deep_in_a_concurrency_line_poll_less_often(sync_redis: redis.Redis) -> None:
    capacity = ProviderCapacity(sync_redis, lease_seconds=30, poll_seconds=2)
    inst = instance("deep-line", max_concurrency=2)
    admitted(capacity.acquire(inst, "busy1", 0, 1))
    admitted(capacity.acquire(inst, "busy2", 0, 1))
    head = waited(capacity.acquire(inst, "head", 1, 1), "concurrency")
    for i in range(2, 9):
        waited(capacity.acquire(inst, f"w{i}", i, 1), "concurrency")
    deep = waited(capacity.acquire(inst, "deep", 100, 1), "concurrency")  # rank 8
    assert head.seconds <= 2
    assert deep.seconds == pytest.approx(2 * 5, abs=0.01)  # ceil((8 + 1) / 2) polls


def test_release_wakes_the_next_waiter_when_the_head_is_already_on_its_way(
    sync_redis: redis.Redis, capacity: ProviderCapacity, queue_key: str
) -> None:
    inst = instance("wake-next", max_concurrency=2)
    first = admitted(capacity.acquire(inst, "first", 1, 1))
    second = admitted(capacity.acquire(inst, "second", 2, 1))
    waited(capacity.acquire(inst, "head", 3, 1), "concurrency")
    waited(capacity.acquire(inst, "next", 4, 1), "concurrency")
    put_waiting_job(sync_redis, "head", queue_key, "queued")
    put_waiting_job(sync_redis, "next", queue_key, "queued")
    capacity.release(inst, first, Outcome.OK)  # one slot: the head is pushed
    assert sync_redis.zscore("llmgw:deferred", "head") is None
    assert sync_redis.zscore("llmgw:deferred", "next") is not None
    # The head has not claimed its slot yet when the second call ends: two slots are
    # free, the head is coming for one, so the next waiter is woken for the other.
    capacity.release(inst, second, Outcome.OK)
    assert sync_redis.zscore("llmgw:deferred", "next") is None
    assert sync_redis.llen(queue_key) == 2
    admitted(capacity.acquire(inst, "head", 3, 1))
    admitted(capacity.acquire(inst, "next", 4, 1))


def test_probe_without_a_verdict_reopens_the_circuit(capacity: ProviderCapacity) -> None:
    inst = instance("probe-neutral", failure_threshold=2, reset_seconds=0.5)
    fail_until_open(capacity, inst)
    time.sleep(0.6)
    probe = admitted(capacity.acquire(inst, "probe", 1, 1))
    assert capacity.release(inst, probe, Outcome.NEUTRAL) == "open"
    waited(capacity.acquire(inst, "other", 2, 1), "circuit_open")


def test_release_does_not_wake_waiters_while_the_instance_cools_down(
    sync_redis: redis.Redis, capacity: ProviderCapacity, queue_key: str
) -> None:
    inst = instance("wake-cooling", max_concurrency=1)
    running = admitted(capacity.acquire(inst, "running", 1, 1))
    waited(capacity.acquire(inst, "head", 2, 1), "concurrency")
    put_waiting_job(sync_redis, "head", queue_key, "queued")
    capacity.release(inst, running, Outcome.RATE_LIMITED, cooldown_seconds=5)
    assert sync_redis.llen(queue_key) == 0
    assert sync_redis.zscore("llmgw:deferred", "head") is not None


def test_release_skips_and_drops_ended_waiters_ahead_in_line(
    sync_redis: redis.Redis, capacity: ProviderCapacity, queue_key: str
) -> None:
    inst = instance("wake-skip", max_concurrency=1)
    running = admitted(capacity.acquire(inst, "running", 1, 1))
    waited(capacity.acquire(inst, "gone", 2, 1), "concurrency")
    waited(capacity.acquire(inst, "next", 3, 1), "concurrency")
    put_waiting_job(sync_redis, "gone", queue_key, "cancelled")
    sync_redis.zrem("llmgw:deferred", "gone")  # e.g. its pump already dropped it
    put_waiting_job(sync_redis, "next", queue_key, "queued")
    capacity.release(inst, running, Outcome.OK)
    assert sync_redis.zscore(f"llmgw:limit:{inst.name}:waiting", "gone") is None
    assert sync_redis.zscore("llmgw:deferred", "next") is None
    assert sync_redis.llen(queue_key) == 1
    admitted(capacity.acquire(inst, "next", 3, 1))
