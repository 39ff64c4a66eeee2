"""A tenant's usage over a range of UTC days, from the daily hashes that every paid reply
updates (``scripts/count_usage.lua``): one pipelined HGETALL a day, never a scan of jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from gateway import keys
from gateway.redis_replies import text

FIELDS = ("requests", "input_tokens", "output_tokens", "cost_nusd")


class GroupBy(StrEnum):
    DAY = "day"
    MODEL = "model"
    PROVIDER = "provider"


@dataclass(slots=True)
class Totals:
    """Paid provider replies, their tokens, and their cost in nano-USD."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_nusd: int = 0

    def add(self, name: str, value: int) -> None:
        setattr(self, name, getattr(self, name) + value)

    @property
    def cost_usd(self) -> float:
        return round(self.cost_nusd / 1e9, 9)


@dataclass(slots=True)
class UsageReport:
    start: date
    end: date
    group_by: GroupBy
    groups: dict[str, Totals] = field(default_factory=dict)
    totals: Totals = field(default_factory=Totals)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


async def usage_report(
    redis: Redis, tenant: str, start: date, end: date, group_by: GroupBy
) -> UsageReport:
    """``tenant``'s usage from ``start`` to ``end`` (both included), grouped."""
    span = days(start, end)
    pipe = redis.pipeline(transaction=False)
    for day in span:
        pipe.hgetall(keys.usage_day(tenant, day.isoformat()))
    replies: list[dict[Any, Any]] = await pipe.execute()
    report = UsageReport(start, end, group_by)
    for day, raw in zip(span, replies, strict=True):
        if group_by is GroupBy.DAY:
            report.groups[day.isoformat()] = Totals()
        for name, value in raw.items():
            _count(report, day, text(name), int(value))
    return report


def _count(report: UsageReport, day: date, name: str, value: int) -> None:
    """One field of a daily hash: a total (``cost_nusd``) or a group's (``model:<name>:
    cost_nusd``; a model's name may itself hold colons)."""
    kind, _, rest = name.partition(":")
    if not rest:
        if name in FIELDS:
            report.totals.add(name, value)
            if report.group_by is GroupBy.DAY:
                report.groups[day.isoformat()].add(name, value)
        return
    group, _, measure = rest.rpartition(":")
    if kind == report.group_by.value and measure in FIELDS:
        report.groups.setdefault(group, Totals()).add(measure, value)


async def spent_nusd(redis: Redis, tenant: str, today: date) -> tuple[int, int]:
    """What ``tenant`` has spent today and this month, in nano-USD."""
    pipe = redis.pipeline(transaction=False)
    pipe.hget(keys.usage_day(tenant, today.isoformat()), "cost_nusd")
    pipe.hget(keys.usage_month(tenant, today.isoformat()[:7]), "cost_nusd")
    day, month = await pipe.execute()
    return int(day or 0), int(month or 0)
