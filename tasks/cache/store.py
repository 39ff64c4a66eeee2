"""Cached completions in Redis: read by the API (``ResponseCache``, one round trip that
also counts the hit or miss), written by the worker that finished the job
(``SyncResponseCache``), before the job is marked done so a repeat sent the moment the
first answer arrives already finds it.

An entry is the compact answer, as the job record holds it: ``result`` (message,
finish reason, model), ``usage`` and when it was stored."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from gateway import keys
from gateway.lua import register
from gateway.redis_replies import text

log = structlog.get_logger(__name__)

# Finish reasons of a complete answer worth replaying (not a filtered or failed one).
CACHEABLE_FINISH = frozenset({"stop", "length", "tool_calls"})


@dataclass(frozen=True, slots=True)
class CachedResponse:
    result: dict[str, Any]
    usage: dict[str, Any] | None
    stored_at: float

    def age_seconds(self, now: float | None = None) -> float:
        return max((time.time() if now is None else now) - self.stored_at, 0.0)


@dataclass(frozen=True, slots=True)
class CacheCounters:
    hit: int = 0
    miss: int = 0


class ResponseCache:
    """The API's side: lookups, and the counters for ``/metrics``."""

    def __init__(self, redis: AsyncRedis) -> None:
        self._lookup = register(redis, "tasks/cache/scripts/lookup.lua")

    async def lookup(self, key: str) -> CachedResponse | None:
        raw = await self._lookup(keys=[key, keys.CACHE_COUNTERS])
        if not raw:
            return None
        entry = orjson.loads(raw)
        return CachedResponse(entry["result"], entry.get("usage"), float(entry["stored_at"]))


async def read_cache_counters(redis: AsyncRedis) -> CacheCounters:
    """The cluster's lookups so far (``llm_gateway_cache_requests_total``)."""
    raw = await redis.hgetall(keys.CACHE_COUNTERS)
    counts = {text(k): int(v) for k, v in raw.items()}
    return CacheCounters(hit=counts.get("hit", 0), miss=counts.get("miss", 0))


class SyncResponseCache:
    """The worker's side: store a finished answer under the key its job carries."""

    def __init__(self, redis: Redis, max_entry_bytes: int) -> None:
        self._redis = redis
        self._max_entry_bytes = max_entry_bytes

    def store(
        self, key: str, ttl_seconds: int, result: dict[str, Any], usage: dict[str, Any] | None
    ) -> bool:
        """Write the entry; False (nothing written) when the answer is not a complete one
        or is over the size bound."""
        if result.get("finish_reason") not in CACHEABLE_FINISH:
            return False
        entry = orjson.dumps({"result": result, "usage": usage, "stored_at": time.time()})
        if len(entry) > self._max_entry_bytes:
            return False
        try:
            self._redis.set(key, entry, ex=ttl_seconds)
        except RedisError as exc:
            # The answer is paid for and recorded next; a cache that cannot take it is no
            # reason to fail the job.
            log.warning("response_cache_store_failed", error=type(exc).__name__)
            return False
        return True
