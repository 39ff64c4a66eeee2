"""``JobRunner`` against a real Redis with a scripted provider: state machine, retries,
duplicate deliveries and cancellation races."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from gateway.errors import ProviderRateLimited, ProviderRejected, ProviderUnavailable
from limits.capacity import ProviderCapacity, Wait, wait_order
from providers.base import Capabilities
from providers.config import ProvidersConfig
from providers.types import ChatRequest, ChatResponse, Message, TextPart, Usage
from tasks.documents.resolver import DocumentResolver
from tasks.jobs.execution import JobRunner
from tasks.jobs.in_flight import InFlight
from tasks.jobs.record import JobRecord, JobStatus, JobType, new_job_id
from tasks.jobs.sync_store import SyncJobStore
from tasks.kinds.base import ModelParts, kinds_table
from tasks.kinds.completion import CompletionKind
from tasks.kinds.tool import ToolKind
from tasks.loops.fallbacks import FallbackPlanner
from tasks.loops.first_calls import FirstCalls
from tasks.loops.model_calls import ModelCalls, RetryPolicy
from tasks.loops.runner import LoopRunner
from tasks.loops.state import LoopLimits
from tasks.sessions.store import SyncSessionStore
from tools.executor import ToolExecutor
from tools.registry import ToolRegistry


@dataclass
class ScriptedProvider:
    """A provider double: returns or raises the scripted outcomes in order."""

    outcomes: list[str | Exception | ChatResponse]
    instance: str = "openai"
    capabilities: Capabilities = field(default_factory=Capabilities)
    calls: list[ChatRequest] = field(default_factory=list)
    before_return: object = None

    def complete(self, request: ChatRequest) -> ChatResponse:
        self.calls.append(request)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        if callable(self.before_return):
            self.before_return()
        if isinstance(outcome, ChatResponse):
            return outcome
        return ChatResponse(
            message=Message(role="assistant", content=(TextPart(outcome),)),
            finish_reason="stop",
            usage=Usage(3, 2),
            model=request.model,
        )

    def close(self) -> None:
        pass


@pytest.fixture
def sync_redis(isolated_redis: redis.Redis) -> redis.Redis:
    return isolated_redis


def make_runner(
    client: redis.Redis,
    provider: ScriptedProvider,
    attempts: int = 3,
    fallbacks: list[str] | None = None,
    tpm: int | None = None,
    tools: ToolRegistry | None = None,
    max_iterations: int = 8,
    provider_for: Callable[[str], ScriptedProvider] | None = None,
    documents: DocumentResolver | None = None,
    first_calls: bool = False,
) -> JobRunner:
    config = ProvidersConfig.model_validate(
        {
            "instances": {
                "openai": {
                    "type": "openai",
                    "models": ["gpt-4o-mini"],
                    "model_map": {"alias": "gpt-real"},
                    "prices": {"gpt-4o-mini": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}},
                    "fallbacks": fallbacks or [],
                    "limits": {"tpm": tpm},
                },
                "backup": {"type": "openai", "models": ["backup-model"]},
            }
        }
    )
    store = SyncJobStore(client)
    capacity = ProviderCapacity(client, lease_seconds=30)
    calls = ModelCalls(
        store=store,
        instances=dict(config.instances),
        retry=RetryPolicy(attempts, 0.01, 0.02),
        capacity=capacity,
        planner=FallbackPlanner(config),
        in_flight=InFlight(),
        first_calls=FirstCalls(store, capacity, config.instances) if first_calls else None,
    )
    registry = tools or ToolRegistry()
    executor = ToolExecutor(registry, max_parallel=4)
    parts = ModelParts(
        calls=calls,
        loops=LoopRunner(calls, executor, 32_000),
        provider_for=provider_for or (lambda _: provider),
        tools=registry,
    )
    completion = CompletionKind(
        parts=parts,
        sessions=SyncSessionStore(client),
        loop_defaults=LoopLimits(max_iterations=max_iterations),
        max_iterations_ceiling=50,
        documents=documents,
    )
    kinds = kinds_table(completion, ToolKind(executor=executor, calls=calls))
    return JobRunner(calls=calls, kinds=kinds)


def put_job(
    client: redis.Redis,
    model: str = "gpt-4o-mini",
    *,
    request: dict[str, Any] | None = None,
    session_id: str | None = None,
    loop: dict[str, Any] | None = None,
    first_call_tokens: int | None = None,
) -> str:
    created = time.time()
    first_call = None
    if first_call_tokens is not None:
        first_call = f"openai {wait_order(5, created)} {first_call_tokens}"
    record = JobRecord(
        id=new_job_id(),
        tenant="t",
        type=JobType.COMPLETION,
        status=JobStatus.QUEUED,
        request={
            "model": model,
            "messages": [{"role": "user", "content": "hi"}],
            **(request or {}),
        },
        created_at=created,
        model=model,
        provider="openai",
        queue="llm.openai",
        priority=5,
        session_id=session_id,
        loop=loop,
        first_call=first_call,
    )
    client.hset(f"llmgw:job:{record.id}", mapping=record.to_redis())  # type: ignore[arg-type]
    client.hset(f"llmgw:job:{record.id}", mapping={"message": "m", "message_key": "q:test"})
    return record.id


def make_due(client: redis.Redis, job_id: str) -> None:
    """Skip a deferred job's wait: it may be delivered again now."""
    assert client.zscore("llmgw:deferred", job_id) is not None
    client.zrem("llmgw:deferred", job_id)


def test_success_records_result_usage_and_attempt(sync_redis: redis.Redis) -> None:
    provider = ScriptedProvider(["hello"])
    job_id = put_job(sync_redis)
    make_runner(sync_redis, provider).run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED
    assert job.result is not None and job.result["message"]["content"] == "hello"
    assert job.usage == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert job.attempts == 1 and job.started_at and job.finished_at
    assert job.cost_usd == (3 * 1.0 + 2 * 2.0) / 1e6


def test_model_without_price_has_no_cost(sync_redis: redis.Redis) -> None:
    job_id = put_job(sync_redis, model="alias")
    make_runner(sync_redis, ScriptedProvider(["x"])).run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.cost_usd is None


def test_upstream_model_name_comes_from_model_map(sync_redis: redis.Redis) -> None:
    provider = ScriptedProvider(["ok"])
    make_runner(sync_redis, provider).run(put_job(sync_redis, model="alias"))
    assert provider.calls[0].model == "gpt-real"


def test_duplicate_delivery_of_finished_job_does_nothing(sync_redis: redis.Redis) -> None:
    provider = ScriptedProvider(["first", "second"])
    job_id = put_job(sync_redis)
    runner = make_runner(sync_redis, provider)
    runner.run(job_id)
    runner.run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.result is not None
    assert job.result["message"]["content"] == "first"
    assert len(provider.calls) == 1


def test_delivery_of_job_held_by_live_lease_is_ignored(sync_redis: redis.Redis) -> None:
    job_id = put_job(sync_redis)
    store = SyncJobStore(sync_redis)
    job, _ = store.claim(job_id, "other-worker")
    assert job is not None
    provider = ScriptedProvider(["never"])
    make_runner(sync_redis, provider).run(job_id)
    assert provider.calls == []
    assert store.load(job_id).status is JobStatus.RUNNING  # type: ignore[union-attr]


def test_retryable_error_defers_then_gives_up_after_max_attempts(sync_redis: redis.Redis) -> None:
    provider = ScriptedProvider([ProviderUnavailable("down", provider="openai")] * 3)
    job_id = put_job(sync_redis)
    runner = make_runner(sync_redis, provider, attempts=3)
    for attempt in (1, 2):
        runner.run(job_id)
        job = SyncJobStore(sync_redis).load(job_id)
        assert job is not None and job.status is JobStatus.QUEUED and job.attempts == attempt
        make_due(sync_redis, job_id)
    runner.run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.FAILED and job.attempts == 3
    assert job.error is not None and "gave up after 3 attempts" in job.error["message"]
    assert sync_redis.zscore("llmgw:running", job_id) is None


def test_rate_limited_call_waits_for_retry_after_and_cools_the_instance(
    sync_redis: redis.Redis,
) -> None:
    provider = ScriptedProvider([ProviderRateLimited("slow down", retry_after=7.0)])
    job_id = put_job(sync_redis)
    make_runner(sync_redis, provider).run(job_id)
    due_ms = sync_redis.zscore("llmgw:deferred", job_id)
    now_s, now_us = sync_redis.time()
    assert due_ms is not None and due_ms - (now_s * 1000 + now_us / 1000) >= 6_900
    assert sync_redis.pttl("llmgw:limit:openai:cooldown") > 6_000


def test_failure_moves_to_untried_fallback_at_once(sync_redis: redis.Redis) -> None:
    provider = ScriptedProvider([ProviderUnavailable("down", provider="openai")])
    job_id = put_job(sync_redis)
    make_runner(sync_redis, provider, fallbacks=["backup"]).run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.QUEUED and job.provider == "backup"
    assert job.queue == "llm.backup" and job.attempts == 1
    assert job.route == {
        "primary": "openai",
        "instance": "backup",
        "model": "gpt-4o-mini",
        "tried": ["openai"],
    }
    # Pushed straight onto the fallback's queue, not deferred.
    assert sync_redis.zscore("llmgw:deferred", job_id) is None
    raw = sync_redis.hget(f"llmgw:job:{job_id}", "message_key")
    assert raw is not None and sync_redis.llen(raw) == 1


def test_caller_error_fails_at_once(sync_redis: redis.Redis) -> None:
    provider = ScriptedProvider([ProviderRejected("bad max_tokens", upstream_status=400)])
    job_id = put_job(sync_redis)
    make_runner(sync_redis, provider).run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.FAILED and job.attempts == 1
    assert job.error is not None and job.error["type"] == "provider_rejected"


def test_unexpected_exception_fails_without_leaking_details(sync_redis: redis.Redis) -> None:
    provider = ScriptedProvider([RuntimeError("internal path /secret/thing")])
    job_id = put_job(sync_redis)
    make_runner(sync_redis, provider).run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.error == {"type": "internal_error", "message": "internal error"}


def test_cancel_during_call_keeps_cancelled(sync_redis: redis.Redis) -> None:
    job_id = put_job(sync_redis)
    store = SyncJobStore(sync_redis)

    def cancel() -> None:
        store.transition(job_id, {JobStatus.QUEUED, JobStatus.RUNNING}, JobStatus.CANCELLED)

    provider = ScriptedProvider(["too late"], before_return=cancel)
    make_runner(sync_redis, provider).run(job_id)
    job = store.load(job_id)
    assert job is not None and job.status is JobStatus.CANCELLED and job.result is None
    # The call was made and paid for: counted, and its usage kept beside the empty result.
    assert job.attempts == 1 and job.usage is None
    assert job.public()["orphaned_usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
        "cost_usd": (3 * 1.0 + 2 * 2.0) / 1e6,
    }


def test_a_reply_after_the_job_was_taken_over_is_paid_for_not_recorded(
    sync_redis: redis.Redis,
) -> None:
    job_id = put_job(sync_redis)
    store = SyncJobStore(sync_redis)

    def taken_over() -> None:
        # This worker stalled: its lease lapsed, the job was reaped and claimed elsewhere.
        sync_redis.zadd("llmgw:running", {job_id: 1})
        store.reap(recoveries_allowed=3)
        store.claim(job_id, "rescuer")

    provider = ScriptedProvider(["too late"], before_return=taken_over)
    make_runner(sync_redis, provider).run(job_id)
    job = store.load(job_id)
    assert job is not None and job.status is JobStatus.RUNNING and job.result is None
    assert job.attempts == 1 and job.public()["orphaned_usage"]["total_tokens"] == 5


def test_no_call_is_made_once_the_job_is_no_longer_ours(sync_redis: redis.Redis) -> None:
    job_id = put_job(sync_redis)
    store = SyncJobStore(sync_redis)
    provider = ScriptedProvider(["never"])

    def cancel_then_provider(_: str) -> ScriptedProvider:
        # Looked up just before admission and the call: the client cancels meanwhile.
        store.transition(job_id, {JobStatus.RUNNING}, JobStatus.CANCELLED)
        return provider

    make_runner(sync_redis, provider, provider_for=cancel_then_provider).run(job_id)
    job = store.load(job_id)
    assert job is not None and job.status is JobStatus.CANCELLED
    assert provider.calls == [] and job.attempts == 0
    # Its capacity was given back at once.
    assert sync_redis.zcard("llmgw:limit:openai:inflight") == 0


def test_cancelled_job_is_never_started(sync_redis: redis.Redis) -> None:
    job_id = put_job(sync_redis)
    SyncJobStore(sync_redis).transition(job_id, {JobStatus.QUEUED}, JobStatus.CANCELLED)
    provider = ScriptedProvider(["never"])
    make_runner(sync_redis, provider).run(job_id)
    assert provider.calls == []


def test_missing_record_is_ignored(sync_redis: redis.Redis) -> None:
    provider = ScriptedProvider(["never"])
    make_runner(sync_redis, provider).run("job_doesnotexist")
    assert provider.calls == []


def test_terminal_transition_publishes_completion(sync_redis: redis.Redis) -> None:
    pubsub = sync_redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("llmgw:events:job-done")
    job_id = put_job(sync_redis)
    make_runner(sync_redis, ScriptedProvider(["x"])).run(job_id)
    message = None
    deadline = time.monotonic() + 5
    while message is None and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
    assert message is not None
    # "<id> <status>", then the finished record (small here) for the API's waiter.
    assert message["data"].startswith(f"{job_id} succeeded ".encode())
    assert b'"status","succeeded"' in message["data"]
    pubsub.close()


def test_retry_delay_backs_off_exponentially_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_seconds=1, backoff_max_seconds=60)
    assert policy.delay(1, retry_after=90) == 90
    assert 0.5 <= policy.delay(1, retry_after=None) <= 1
    assert 30 <= policy.delay(10, retry_after=None) <= 60


def test_after_every_candidate_failed_the_job_backs_off_from_the_primary(
    sync_redis: redis.Redis,
) -> None:
    down = ProviderUnavailable("down", provider="x")
    provider = ScriptedProvider([down, down, "third time lucky"])
    job_id = put_job(sync_redis)
    runner = make_runner(sync_redis, provider, attempts=3, fallbacks=["backup"])
    runner.run(job_id)  # primary fails → straight to the fallback
    runner.run(job_id)  # fallback fails → back off, primary again
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.QUEUED and job.provider == "openai"
    assert job.route is not None and job.route["tried"] == [] and job.attempts == 2
    make_due(sync_redis, job_id)
    runner.run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.attempts == 3
    assert job.result is not None and job.result["provider"] == "openai"


def test_open_circuit_sends_the_job_to_its_fallback_without_a_call(
    sync_redis: redis.Redis,
) -> None:
    sync_redis.hset("llmgw:circuit:openai", mapping={"state": "open", "until": 10**15})
    provider = ScriptedProvider(["never"])
    job_id = put_job(sync_redis)
    make_runner(sync_redis, provider, fallbacks=["backup"]).run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.QUEUED and job.provider == "backup"
    assert job.attempts == 0 and provider.calls == []


def test_waiting_out_an_open_circuit_is_a_failure_but_not_an_attempt(
    sync_redis: redis.Redis,
) -> None:
    sync_redis.hset("llmgw:circuit:openai", mapping={"state": "open", "until": 10**15})
    provider = ScriptedProvider(["never"])
    job_id = put_job(sync_redis)
    make_runner(sync_redis, provider).run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.QUEUED and provider.calls == []
    assert (job.attempts, job.failures) == (0, 1)


def test_waiting_for_capacity_hands_the_job_back_without_an_attempt(
    sync_redis: redis.Redis,
) -> None:
    sync_redis.set("llmgw:limit:openai:cooldown", 1, px=30_000)
    provider = ScriptedProvider(["never"])
    job_id = put_job(sync_redis)
    make_runner(sync_redis, provider).run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.QUEUED and job.attempts == 0
    assert sync_redis.zscore("llmgw:deferred", job_id) is not None
    assert provider.calls == []


def test_request_larger_than_the_whole_tpm_fails_with_a_clear_error(
    sync_redis: redis.Redis,
) -> None:
    runner = make_runner(sync_redis, ScriptedProvider(["never"]), tpm=100)
    job_id = put_job(sync_redis)
    runner.run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert job.error is not None and job.error["type"] == "invalid_request_error"
    assert "allows 100/min" in job.error["message"]


def test_request_too_large_for_one_instance_moves_to_a_fallback_that_fits(
    sync_redis: redis.Redis,
) -> None:
    runner = make_runner(sync_redis, ScriptedProvider(["never"]), fallbacks=["backup"], tpm=100)
    job_id = put_job(sync_redis)
    runner.run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.QUEUED and job.provider == "backup"
    assert job.attempts == 0


def test_job_arriving_while_a_probe_is_out_waits_without_an_attempt(
    sync_redis: redis.Redis,
) -> None:
    sync_redis.hset("llmgw:circuit:openai", mapping={"state": "half_open", "until": 10**15})
    provider = ScriptedProvider(["never"])
    job_id = put_job(sync_redis)
    make_runner(sync_redis, provider).run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.QUEUED and job.attempts == 0
    assert sync_redis.zscore("llmgw:deferred", job_id) is not None
    assert provider.calls == []


def test_redis_failure_mid_delivery_is_raised_not_recorded_as_a_job_failure(
    sync_redis: redis.Redis,
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    job_id = put_job(sync_redis)
    runner = make_runner(sync_redis, ScriptedProvider([RedisConnectionError("gone")]))  # type: ignore[list-item]
    with pytest.raises(RedisConnectionError, match=r"^gone$"):
        runner.run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    # Left running under its lease: the reaper re-queues it if nobody finishes it.
    assert job is not None and job.status is JobStatus.RUNNING and job.error is None


# --- the first call admitted with the claim -------------------------------------------------

# What the worker reserves for the call of ``put_job``'s "hi": 1 token of prompt plus the
# instance's default reply estimate (1,024), as the API writes it in ``first_call``.
HI_TOKENS = 1025


def count_admissions(monkeypatch: pytest.MonkeyPatch, runner: JobRunner) -> list[str]:
    """The job ids the runner's calls ask ``acquire_attempt`` to admit, from now on."""
    asked: list[str] = []
    capacity = runner.calls.capacity
    acquire_attempt = capacity.acquire_attempt

    def counted(instance: Any, job_id: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(job_id)
        return acquire_attempt(instance, job_id, *args, **kwargs)

    monkeypatch.setattr(capacity, "acquire_attempt", counted)
    return asked


def test_a_job_delivered_from_its_queue_calls_on_the_admission_its_claim_got(
    sync_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = ScriptedProvider(["hello"])
    job_id = put_job(sync_redis, first_call_tokens=HI_TOKENS)
    runner = make_runner(sync_redis, provider, tpm=10_000, first_calls=True)
    asked = count_admissions(monkeypatch, runner)
    runner.run(job_id, "llm.openai")
    assert asked == []  # the call did not ask again
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.attempts == 1
    assert len(provider.calls) == 1
    # One admission for the one call (no second one by the call itself), released with
    # the finish, its tokens settled at what the reply used.
    assert sync_redis.zcard("llmgw:limit:openai:tpm") == 1
    assert sync_redis.zcard("llmgw:limit:openai:inflight") == 0
    assert sync_redis.get("llmgw:limit:openai:tpm:sum") == b"5"
    assert sync_redis.hget(f"llmgw:job:{job_id}", "first_call") is None


def test_a_claimed_job_told_to_wait_is_handed_back_without_an_attempt(
    sync_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    capacity = ProviderCapacity(sync_redis, lease_seconds=30)
    runner = make_runner(sync_redis, ScriptedProvider(["never"]), tpm=2000, first_calls=True)
    # Someone else's call holds most of the minute's tokens.
    holder = capacity.acquire(runner.calls.instances["openai"], "job_other", 1, 1500)
    assert not isinstance(holder, Wait)
    job_id = put_job(sync_redis, first_call_tokens=HI_TOKENS)
    asked = count_admissions(monkeypatch, runner)
    runner.run(job_id, "llm.openai")
    # Handed back on the claim's verdict, without asking again.
    assert asked == []
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.QUEUED and job.attempts == 0
    assert sync_redis.zscore("llmgw:deferred", job_id) is not None
    assert sync_redis.zcard("llmgw:limit:openai:tpm") == 1  # the holder's alone


def test_a_claimed_job_that_fails_before_its_call_frees_what_its_claim_took(
    sync_redis: redis.Redis,
) -> None:
    def unavailable(_: str) -> ScriptedProvider:
        raise ProviderUnavailable("provider instance openai is disabled", provider="openai")

    provider = ScriptedProvider(["never"])
    runner = make_runner(sync_redis, provider, first_calls=True, provider_for=unavailable)
    job_id = put_job(sync_redis, first_call_tokens=HI_TOKENS)
    runner.run(job_id, "llm.openai")
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.FAILED and provider.calls == []
    # The slot is free; the attempt stays counted, as a call whose worker died is.
    assert sync_redis.zcard("llmgw:limit:openai:inflight") == 0
    assert job.attempts == 1


def test_a_job_whose_call_needs_more_than_its_claim_reserved_asks_again(
    sync_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = ScriptedProvider(["hello"])
    job_id = put_job(sync_redis, first_call_tokens=HI_TOKENS - 1)
    runner = make_runner(sync_redis, provider, tpm=10_000, first_calls=True)
    asked = count_admissions(monkeypatch, runner)
    runner.run(job_id, "llm.openai")
    assert asked == [job_id]
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED and len(provider.calls) == 1
    assert sync_redis.zcard("llmgw:limit:openai:inflight") == 0
    # Two admissions (the unused one settled at none), the reply's tokens counted once.
    assert sync_redis.zcard("llmgw:limit:openai:tpm") == 2
    assert sync_redis.get("llmgw:limit:openai:tpm:sum") == b"5"
