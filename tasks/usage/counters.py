"""The all-time usage counters (``keys.USAGE_COUNTERS``): one hash whose fields are label
sets as JSON arrays, kept by the paid-reply and terminal scripts. ``/metrics`` reads it in
one HGETALL at scrape time, O(label sets) whatever the number of days kept."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from redis.asyncio import Redis

from gateway import keys


def nano_usd(cost_usd: float | None) -> int:
    """A cost as whole nano-USD, how usage counts it (no price: 0)."""
    return 0 if cost_usd is None else round(cost_usd * 1e9)


@dataclass(slots=True)
class UsageCounters:
    """Label tuples → value. ``jobs``: (tenant, instance, model, kind, outcome);
    ``tokens``: (tenant, instance, model, direction); ``cost_usd``: (tenant, instance, model)."""

    jobs: dict[tuple[str, ...], int] = field(default_factory=dict)
    tokens: dict[tuple[str, ...], int] = field(default_factory=dict)
    cost_usd: dict[tuple[str, ...], float] = field(default_factory=dict)


def parse_counters(raw: dict[bytes | str, bytes | str]) -> UsageCounters:
    out = UsageCounters()
    for name, value in raw.items():
        try:
            labels = orjson.loads(name)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(labels, list) or not labels:
            continue
        kind, rest = labels[0], tuple(str(part) for part in labels[1:])
        if kind == "jobs" and len(rest) == 5:
            out.jobs[rest] = int(value)
        elif kind == "tokens" and len(rest) == 4:
            out.tokens[rest] = int(value)
        elif kind == "cost" and len(rest) == 3:
            out.cost_usd[rest] = int(value) / 1e9
    return out


async def read_counters(redis: Redis) -> UsageCounters:
    return parse_counters(await redis.hgetall(keys.USAGE_COUNTERS))
