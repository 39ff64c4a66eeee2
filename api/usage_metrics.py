"""Cluster-wide job, token and cost counters for the API's ``/metrics``: read from the
usage counters in Redis (``tasks.usage.counters``), so any API process reports the whole
cluster's totals and a small deployment needs one scrape target.

Collected in two steps: ``refresh`` reads Redis (async, on the event loop, one HGETALL)
just before the registry renders, and ``collect`` serves what it read."""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tasks.cache.store import CacheCounters, read_cache_counters
from tasks.usage.counters import UsageCounters, read_counters

log = structlog.get_logger(__name__)


class UsageCollector(Collector):
    """``llm_gateway_jobs_total``, ``llm_gateway_tokens_total``, ``llm_gateway_cost_usd_total``,
    ``llm_gateway_cache_requests_total``."""

    def __init__(self) -> None:
        self._counters = UsageCounters()
        self._cache = CacheCounters()

    async def refresh(self, redis: Redis) -> None:
        """Read the counters; with Redis unreachable keep the last ones read, so the
        process's own metrics are still served (a scrape must not fail with Redis)."""
        try:
            self._counters = await read_counters(redis)
            self._cache = await read_cache_counters(redis)
        except RedisError as exc:
            log.warning("usage_counters_unavailable", error=type(exc).__name__)

    def collect(self) -> Iterator[CounterMetricFamily]:
        counters = self._counters
        jobs = CounterMetricFamily(
            "llm_gateway_jobs",
            "Jobs ended, by tenant, provider instance, model, kind and outcome (cluster-wide)",
            labels=["tenant", "instance", "model", "kind", "outcome"],
        )
        for labels, value in sorted(counters.jobs.items()):
            jobs.add_metric(list(labels), value)
        tokens = CounterMetricFamily(
            "llm_gateway_tokens",
            "Tokens of paid provider replies, by direction (input|output) (cluster-wide)",
            labels=["tenant", "instance", "model", "direction"],
        )
        for labels, value in sorted(counters.tokens.items()):
            tokens.add_metric(list(labels), value)
        cost = CounterMetricFamily(
            "llm_gateway_cost_usd",
            "USD of paid provider replies (cluster-wide)",
            labels=["tenant", "instance", "model"],
        )
        for labels, amount in sorted(counters.cost_usd.items()):
            cost.add_metric(list(labels), amount)
        cache = CounterMetricFamily(
            "llm_gateway_cache_requests",
            "Response-cache lookups, by result (hit|miss) (cluster-wide)",
            labels=["result"],
        )
        cache.add_metric(["hit"], self._cache.hit)
        cache.add_metric(["miss"], self._cache.miss)
        yield jobs
        yield tokens
        yield cost
        yield cache
