"""Tenant rate limits and budgets at submission (``tasks.usage.admission``), on a real Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from gateway import keys
from gateway.errors import BudgetExceeded, TenantRateLimited
from gateway.tenant_limits import TenantLimits
from tasks.jobs.job_scripts import PaidReply
from tasks.jobs.record import JobRecord, JobStatus, JobType, new_job_id
from tasks.jobs.sync_store import SyncJobStore
from tasks.usage.admission import TenantAdmission
from tests.support.processes import RedisServer

T = TypeVar("T")


@pytest.fixture
def db_url(redis_server: RedisServer, isolated_redis: redis.Redis) -> str:
    return redis_server.url.rsplit("/", 1)[0] + "/1"


def run(url: str, limits: TenantLimits, use: Callable[[TenantAdmission], Awaitable[T]]) -> T:
    async def scenario() -> T:
        client = AsyncRedis.from_url(url)
        try:
            return await use(TenantAdmission(client, {"acme": limits}))
        finally:
            await client.aclose()

    return asyncio.run(scenario())


async def admitted(admission: TenantAdmission, n: int, tokens: int = 1) -> list[str]:
    """Try ``n`` submissions: "ok", or the refusal's limit name."""
    out = []
    for _ in range(n):
        try:
            await admission.admit("acme", tokens)
            out.append("ok")
        except TenantRateLimited as exc:
            out.append(f"429 {exc.param}")
        except BudgetExceeded as exc:
            out.append(f"402 {exc.param}")
    return out


def test_a_tenant_without_limits_is_always_admitted(db_url: str) -> None:
    async def use(admission: TenantAdmission) -> int:
        return await admission.admit("someone-else", 10**9)

    assert run(db_url, TenantLimits(rpm=1), use) == 0


def test_rpm_admits_a_minutes_worth_then_says_when_to_come_back(db_url: str) -> None:
    async def use(admission: TenantAdmission) -> tuple[list[str], float]:
        results = await admitted(admission, 4)
        with pytest.raises(TenantRateLimited) as info:
            await admission.admit("acme", 1)
        return results, info.value.retry_after

    results, retry_after = run(db_url, TenantLimits(rpm=3), use)
    assert results == ["ok", "ok", "ok", "429 rpm"]
    # One request of 3 a minute comes back within about 20 s.
    assert 0 < retry_after <= 20
    error = TenantRateLimited("x", param="rpm", retry_after=retry_after)
    assert error.headers()["retry-after"] == str(int(-(-retry_after // 1)))


def test_tpm_counts_the_estimate_and_the_reply_settles_it(
    db_url: str, isolated_redis: redis.Redis
) -> None:
    async def admit_one(admission: TenantAdmission) -> int:
        return await admission.admit("acme", 600)

    limits = TenantLimits(tpm=1000)
    assert run(db_url, limits, admit_one) == 600
    # The second 600-token estimate does not fit in what is left (400).
    assert run(db_url, limits, lambda a: admitted(a, 1, 600)) == ["429 tpm"]
    # The job really used 100 tokens: its reply gives back 500 of the 600 lent.
    job_id = new_job_id()
    record = JobRecord(
        id=job_id,
        tenant="acme",
        type=JobType.COMPLETION,
        status=JobStatus.RUNNING,
        request={},
        created_at=time.time(),
        tpm_reserved=600,
    )
    isolated_redis.hset(keys.job(job_id), mapping=record.to_redis())  # type: ignore[arg-type]
    SyncJobStore(isolated_redis).paid_reply(
        PaidReply(
            job_id=job_id,
            tenant="acme",
            instance="openai",
            model="m",
            prompt_tokens=80,
            completion_tokens=20,
            cost_usd=None,
            reply_id=uuid.uuid4().hex,
        )
    )
    assert run(db_url, limits, lambda a: admitted(a, 1, 600)) == ["ok"]


def test_a_spent_daily_budget_refuses_with_402_naming_it(
    db_url: str, isolated_redis: redis.Redis
) -> None:
    limits = TenantLimits(daily_budget_usd=0.01, monthly_budget_usd=100)
    assert run(db_url, limits, lambda a: admitted(a, 1)) == ["ok"]
    SyncJobStore(isolated_redis).paid_reply(
        PaidReply(
            job_id="job_x",
            tenant="acme",
            instance="openai",
            model="m",
            prompt_tokens=1,
            completion_tokens=1,
            cost_usd=0.01,
            reply_id="r",
        )
    )
    assert run(db_url, limits, lambda a: admitted(a, 2)) == ["402 daily_budget_usd"] * 2


def test_a_spent_monthly_budget_refuses_too(db_url: str, isolated_redis: redis.Redis) -> None:
    month = time.strftime("%Y-%m", time.gmtime())
    isolated_redis.hset(keys.usage_month("acme", month), "cost_nusd", 5 * 10**9)
    limits = TenantLimits(monthly_budget_usd=5)
    assert run(db_url, limits, lambda a: admitted(a, 1)) == ["402 monthly_budget_usd"]
