"""``embedding`` jobs through ``JobRunner`` against a real Redis with a scripted provider:
each ``embed`` is an attempt counted before it is made, and its usage is on the record as
paid for as soon as it lands, whoever holds the job by then."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import redis

from gateway.errors import ProviderUnavailable
from limits.capacity import ProviderCapacity
from providers.config import ProvidersConfig
from providers.embeddings import EmbeddingRequest, EmbeddingResponse
from providers.types import Usage
from tasks.jobs.execution import JobRunner
from tasks.jobs.in_flight import InFlight
from tasks.jobs.record import JobRecord, JobStatus, JobType, new_job_id
from tasks.jobs.sync_store import SyncJobStore
from tasks.kinds.base import kinds_table
from tasks.kinds.embedding import EmbeddingKind
from tasks.loops.fallbacks import FallbackPlanner
from tasks.loops.model_calls import ModelCalls, RetryPolicy

MODEL = "text-embedding-3-small"
PRICE_PER_MTOK = 0.02
TEXTS = ["one text", "another"]


@dataclass
class ScriptedEmbedder:
    """A provider double: each ``embed`` raises the next scripted error, or embeds (one
    vector a text, 4 prompt tokens a text) after ``before_return`` has run."""

    outcomes: list[Exception | None]
    instance: str = "openai"
    calls: list[EmbeddingRequest] = field(default_factory=list)
    before_return: Callable[[], None] | None = None

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        self.calls.append(request)
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome
        if self.before_return is not None:
            self.before_return()
        vectors = tuple([1.0, 0.0] for _ in request.inputs)
        return EmbeddingResponse(vectors, Usage(prompt_tokens=4 * len(request.inputs)), MODEL)

    def close(self) -> None:
        pass


def make_runner(
    client: redis.Redis,
    provider: ScriptedEmbedder,
    provider_for: Callable[[str], ScriptedEmbedder] | None = None,
) -> JobRunner:
    config = ProvidersConfig.model_validate(
        {
            "instances": {
                "openai": {
                    "type": "openai",
                    "embedding_models": [MODEL],
                    "prices": {MODEL: {"input_per_mtok": PRICE_PER_MTOK}},
                }
            }
        }
    )
    calls = ModelCalls(
        store=SyncJobStore(client),
        instances=dict(config.instances),
        retry=RetryPolicy(3, 0.01, 0.02),
        capacity=ProviderCapacity(client, lease_seconds=30),
        planner=FallbackPlanner(config),
        in_flight=InFlight(),
    )
    embedding = EmbeddingKind(calls=calls, provider_for=provider_for or (lambda _: provider))
    return JobRunner(calls=calls, kinds=kinds_table(embedding))


def put_job(client: redis.Redis) -> str:
    record = JobRecord(
        id=new_job_id(),
        tenant="t",
        type=JobType.EMBEDDING,
        status=JobStatus.QUEUED,
        request={"model": MODEL, "input": TEXTS},
        created_at=time.time(),
        model=MODEL,
        provider="openai",
        queue="llm.openai",
    )
    client.hset(f"llmgw:job:{record.id}", mapping=record.to_redis())  # type: ignore[arg-type]
    client.hset(f"llmgw:job:{record.id}", mapping={"message": "m", "message_key": "q:test"})
    return record.id


@pytest.fixture
def store(isolated_redis: redis.Redis) -> SyncJobStore:
    return SyncJobStore(isolated_redis)


def test_an_embedding_is_one_attempt_and_its_usage_is_all_used(
    isolated_redis: redis.Redis, store: SyncJobStore
) -> None:
    job_id = put_job(isolated_redis)
    make_runner(isolated_redis, ScriptedEmbedder([None])).run(job_id)
    job = store.load(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED
    assert (job.attempts, job.failures) == (1, 0)
    assert job.usage == {"prompt_tokens": 8, "total_tokens": 8}
    assert (job.paid_prompt_tokens, job.paid_completion_tokens) == (8, 0)
    assert job.public()["orphaned_usage"] is None


def test_a_failed_embed_is_an_attempt_and_a_failure(
    isolated_redis: redis.Redis, store: SyncJobStore
) -> None:
    job_id = put_job(isolated_redis)
    runner = make_runner(isolated_redis, ScriptedEmbedder([ProviderUnavailable("down"), None]))
    runner.run(job_id)
    isolated_redis.zrem("llmgw:deferred", job_id)  # skip the backoff
    runner.run(job_id)
    job = store.load(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED
    assert (job.attempts, job.failures) == (2, 1)
    # Only the reply was paid for: the failed call reported nothing.
    assert job.paid_prompt_tokens == 8 and job.public()["orphaned_usage"] is None


def test_vectors_for_a_job_cancelled_mid_call_are_paid_for_not_recorded(
    isolated_redis: redis.Redis, store: SyncJobStore
) -> None:
    job_id = put_job(isolated_redis)

    def cancel() -> None:
        store.transition(job_id, {JobStatus.QUEUED, JobStatus.RUNNING}, JobStatus.CANCELLED)

    make_runner(isolated_redis, ScriptedEmbedder([None], before_return=cancel)).run(job_id)
    job = store.load(job_id)
    assert job is not None and job.status is JobStatus.CANCELLED and job.result is None
    assert job.attempts == 1 and job.usage is None
    assert job.public()["orphaned_usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 0,
        "total_tokens": 8,
        "cost_usd": 8 * PRICE_PER_MTOK / 1e6,
    }


def test_no_embed_is_made_once_the_job_is_no_longer_ours(
    isolated_redis: redis.Redis, store: SyncJobStore
) -> None:
    job_id = put_job(isolated_redis)
    provider = ScriptedEmbedder([None])

    def cancel_then_provider(_: str) -> ScriptedEmbedder:
        # Looked up just before admission and the call: the client cancels meanwhile.
        store.transition(job_id, {JobStatus.RUNNING}, JobStatus.CANCELLED)
        return provider

    make_runner(isolated_redis, provider, provider_for=cancel_then_provider).run(job_id)
    job = store.load(job_id)
    assert job is not None and job.status is JobStatus.CANCELLED
    assert provider.calls == [] and job.attempts == 0
