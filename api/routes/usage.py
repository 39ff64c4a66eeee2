"""``GET /v1/usage``: the caller's usage over UTC days, from the Redis aggregates that paid
replies update (``tasks.usage``), with its rate limits and what is left of its budgets."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Services, Tenant
from api.schemas.errors import AUTHENTICATED, error_responses
from api.schemas.usage import UsageBudget, UsageGroup, UsageLimits, UsageReport, UsageTotals
from gateway.errors import InvalidRequest
from tasks.usage.report import GroupBy, Totals, spent_nusd, usage_report

router = APIRouter(prefix="/v1", tags=["usage"])

_DAY = Annotated[
    str | None, Query(max_length=10, description="a UTC day, YYYY-MM-DD", examples=["2026-12-01"])
]


@router.get("/usage", responses=error_responses(*AUTHENTICATED, 400, 422))
async def get_usage(
    tenant: Tenant,
    services: Services,
    start: _DAY = None,
    end: _DAY = None,
    group_by: Annotated[GroupBy, Query()] = GroupBy.DAY,
) -> UsageReport:
    """``start`` defaults to the first day of ``end``'s month, ``end`` to today (UTC)."""
    today = datetime.now(UTC).date()
    last = _day(end, "end") if end is not None else today
    first = _day(start, "start") if start is not None else last.replace(day=1)
    if last < first:
        raise InvalidRequest("end is before start", param="end")
    longest = services.settings.usage_max_range_days
    if (last - first).days + 1 > longest:
        raise InvalidRequest(f"the range is over {longest} days", param="start")
    report = await usage_report(services.redis, tenant, first, last, group_by)
    return UsageReport(
        object="usage",
        start=first.isoformat(),
        end=last.isoformat(),
        group_by=group_by.value,
        data=[UsageGroup(key=key, **_totals(t).model_dump()) for key, t in report.groups.items()],
        totals=_totals(report.totals),
        limits=await _limits(services, tenant),
    )


def _day(value: str, param: str) -> date:
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or len(value) != 10:
        raise InvalidRequest(f"{param} must be a day as YYYY-MM-DD", param=param)
    return parsed


def _totals(t: Totals) -> UsageTotals:
    return UsageTotals(
        requests=t.requests,
        input_tokens=t.input_tokens,
        output_tokens=t.output_tokens,
        total_tokens=t.input_tokens + t.output_tokens,
        cost_usd=t.cost_usd,
    )


async def _limits(services: Services, tenant: str) -> UsageLimits:
    limits = services.settings.tenant_limits.get(tenant)
    if limits is None:
        return UsageLimits(rpm=None, tpm=None, daily_budget=None, monthly_budget=None)
    # The budgets' periods on the same clock as admission's (time.time, UTC).
    today = datetime.fromtimestamp(time.time(), UTC).date()
    day, month = await spent_nusd(services.redis, tenant, today)
    return UsageLimits(
        rpm=limits.rpm,
        tpm=limits.tpm,
        daily_budget=_budget(today.isoformat(), limits.daily_budget_usd, day),
        monthly_budget=_budget(today.isoformat()[:7], limits.monthly_budget_usd, month),
    )


def _budget(period: str, limit: float | None, spent: int) -> UsageBudget | None:
    if limit is None:
        return None
    spent_usd = round(spent / 1e9, 9)
    return UsageBudget(
        period=period,
        limit_usd=limit,
        spent_usd=spent_usd,
        remaining_usd=round(max(limit - spent_usd, 0.0), 9),
    )
