"""Usage counting (the paid-reply script), the usage report and the all-time counters, on a
real Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from gateway import keys
from tasks.jobs.job_scripts import JobScripts, PaidReply
from tasks.jobs.record import JobRecord, JobStatus, JobType, new_job_id
from tasks.jobs.sync_store import SyncJobStore
from tasks.usage.counters import parse_counters
from tasks.usage.report import GroupBy, usage_report
from tests.support.processes import RedisServer

T = TypeVar("T")
# 2026-03-04 12:00 UTC: replies are counted in the UTC day they landed.
MARCH_4 = 1772625600.0


@pytest.fixture
def db_url(redis_server: RedisServer, isolated_redis: redis.Redis) -> str:
    return redis_server.url.rsplit("/", 1)[0] + "/1"


def run(url: str, use: Callable[[AsyncRedis], Awaitable[T]]) -> T:
    async def scenario() -> T:
        client = AsyncRedis.from_url(url)
        try:
            return await use(client)
        finally:
            await client.aclose()

    return asyncio.run(scenario())


def put_job(client: redis.Redis, tenant: str = "acme") -> str:
    record = JobRecord(
        id=new_job_id(),
        tenant=tenant,
        type=JobType.COMPLETION,
        status=JobStatus.RUNNING,
        request={"model": "m", "messages": []},
        created_at=time.time(),
        model="gpt-4o-mini",
        provider="openai",
    )
    client.hset(keys.job(record.id), mapping=record.to_redis())  # type: ignore[arg-type]
    return record.id


def reply(
    job_id: str,
    prompt: int,
    completion: int,
    cost: float | None,
    *,
    model: str = "gpt-4o-mini",
    instance: str = "openai",
    at: float = MARCH_4,
    reply_id: str | None = None,
) -> PaidReply:
    return PaidReply(
        job_id=job_id,
        tenant="acme",
        instance=instance,
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost,
        reply_id=reply_id or uuid.uuid4().hex,
        at=at,
    )


def test_a_paid_reply_is_counted_per_day_month_model_and_instance(
    isolated_redis: redis.Redis,
) -> None:
    store = SyncJobStore(isolated_redis)
    job_id = put_job(isolated_redis)
    store.paid_reply(reply(job_id, 100, 20, 0.00003))
    store.paid_reply(reply(job_id, 50, 5, None, model="other", instance="azure"))
    day = isolated_redis.hgetall(keys.usage_day("acme", "2026-03-04"))
    assert day[b"requests"] == b"2" and day[b"input_tokens"] == b"150"
    assert day[b"output_tokens"] == b"25" and day[b"cost_nusd"] == b"30000"
    assert day[b"model:gpt-4o-mini:input_tokens"] == b"100"
    assert day[b"provider:azure:output_tokens"] == b"5"
    assert isolated_redis.hget(keys.usage_month("acme", "2026-03"), "cost_nusd") == b"30000"
    # Kept for the retention setting (400 days by default), not forever.
    assert 399 * 86400 < isolated_redis.ttl(keys.usage_day("acme", "2026-03-04")) <= 400 * 86400


def test_a_reply_sent_twice_is_counted_once(isolated_redis: redis.Redis) -> None:
    """A client that re-sends the script after a lost reply (same reply id)."""
    scripts = JobScripts(isolated_redis)
    job_id = put_job(isolated_redis)
    paid = reply(job_id, 10, 2, 0.000001, reply_id="r1")
    for _ in range(2):
        scripts.paid_reply(paid, retention_seconds=86400)
    counters = parse_counters(isolated_redis.hgetall(keys.USAGE_COUNTERS))  # type: ignore[arg-type]
    assert counters.tokens[("acme", "openai", "gpt-4o-mini", "input")] == 10
    assert isolated_redis.hget(keys.job(job_id), "paid_prompt_tokens") == b"10"


def test_a_reply_for_an_expired_record_is_still_counted(isolated_redis: redis.Redis) -> None:
    """It was paid for: usage counts it though no record is left to show it."""
    SyncJobStore(isolated_redis).paid_reply(reply("job_gone", 7, 3, 0.5))
    assert not isolated_redis.exists(keys.job("job_gone"))
    assert isolated_redis.hget(keys.usage_day("acme", "2026-03-04"), "input_tokens") == b"7"


def test_counters_hold_tokens_cost_and_ended_jobs_by_label(isolated_redis: redis.Redis) -> None:
    store = SyncJobStore(isolated_redis)
    job_id = put_job(isolated_redis)
    store.paid_reply(reply(job_id, 100, 20, 0.12345678))
    store.transition(job_id, {JobStatus.RUNNING}, JobStatus.CANCELLED)
    counters = parse_counters(isolated_redis.hgetall(keys.USAGE_COUNTERS))  # type: ignore[arg-type]
    labels = ("acme", "openai", "gpt-4o-mini")
    assert counters.tokens[(*labels, "output")] == 20
    assert counters.cost_usd[labels] == pytest.approx(0.12345678, abs=1e-12)
    assert counters.jobs == {(*labels, "completion", "cancelled"): 1}


def test_the_report_groups_by_day_model_and_provider(
    isolated_redis: redis.Redis, db_url: str
) -> None:
    store = SyncJobStore(isolated_redis)
    job_id = put_job(isolated_redis)
    store.paid_reply(reply(job_id, 100, 10, 0.001))
    store.paid_reply(reply(job_id, 200, 20, 0.002, model="claude-haiku-4-5", instance="anth"))
    store.paid_reply(reply(job_id, 1, 1, 0.004, at=MARCH_4 + 86400))
    first, last = date(2026, 3, 3), date(2026, 3, 5)

    by_day = run(db_url, lambda r: usage_report(r, "acme", first, last, GroupBy.DAY))
    assert list(by_day.groups) == ["2026-03-03", "2026-03-04", "2026-03-05"]
    assert by_day.groups["2026-03-04"].requests == 2
    assert by_day.groups["2026-03-03"].requests == 0
    assert by_day.totals.input_tokens == 301
    assert by_day.totals.cost_usd == pytest.approx(0.007)

    by_model = run(db_url, lambda r: usage_report(r, "acme", first, last, GroupBy.MODEL))
    assert {k: g.requests for k, g in by_model.groups.items()} == {
        "gpt-4o-mini": 2,
        "claude-haiku-4-5": 1,
    }
    by_provider = run(db_url, lambda r: usage_report(r, "acme", first, last, GroupBy.PROVIDER))
    assert by_provider.groups["anth"].output_tokens == 20
    other = run(db_url, lambda r: usage_report(r, "other", first, last, GroupBy.MODEL))
    assert other.groups == {} and other.totals.requests == 0


def test_a_model_name_with_colons_is_grouped_whole(
    isolated_redis: redis.Redis, db_url: str
) -> None:
    store = SyncJobStore(isolated_redis)
    store.paid_reply(reply(put_job(isolated_redis), 5, 1, None, model="amazon.nova-pro-v1:0"))
    day = date(2026, 3, 4)
    report = run(db_url, lambda r: usage_report(r, "acme", day, day, GroupBy.MODEL))
    assert list(report.groups) == ["amazon.nova-pro-v1:0"]
