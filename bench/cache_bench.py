"""What a response-cache hit costs through ``POST /v1/chat/completions``, against a direct
Redis GET of the same entry: the bar is p50 ≤ 2 ms added. Both at concurrency 1 and 10,
with a hit through ``POST /v1/jobs`` (a record stored already succeeded) at concurrency 1,
on a private stack (``llm-gateway up``), with a full uncached job at concurrency 1 beside
them for scale, and the API's floor (``GET /health``: no auth, no body, no Redis) to
tell the cache's share from the HTTP stack's.

    .venv/bin/python bench/cache_bench.py [--requests 2000] [--full-requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import redis
import redis.asyncio as aioredis
from measure import summary_ms
from report import save, table, verdict
from stack import BenchStack, Target

BAR_MS = 2.0
USE = {"x-llm-gateway-cache": "use"}


def _body() -> dict[str, Any]:
    content = f"cache bench {uuid.uuid4().hex}"
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}


def _sequential(call: Callable[[], object], n: int) -> list[float]:
    seconds = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


async def _concurrent(call: Callable[[], Awaitable[object]], n: int, clients: int) -> list[float]:
    seconds: list[float] = []
    remaining = n

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            seconds.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(clients)))
    return seconds


def _hit(response: httpx.Response) -> None:
    response.raise_for_status()
    if response.headers.get("x-llm-gateway-cache") != "hit":
        raise RuntimeError(f"expected a cache hit, got {response.headers}")


def _primed(client: httpx.Client, sync_redis: redis.Redis, body: dict[str, Any]) -> bytes:
    """Cache ``body``'s answer; the key of its entry (the stack's only one)."""
    client.post("/v1/chat/completions", json=body, headers=USE).raise_for_status()
    entries = list(sync_redis.scan_iter("llmgw:cache:bench:*"))
    if len(entries) != 1:
        raise RuntimeError(f"expected one cache entry, found {len(entries)}")
    return bytes(entries[0])


def _one_at_a_time(
    target: Target, body: dict[str, Any], requests: int, full_requests: int
) -> tuple[bytes, dict[str, list[float]]]:
    with (
        httpx.Client(base_url=target.api_url, headers=target.auth, timeout=30) as client,
        redis.Redis.from_url(target.redis_url) as sync_redis,
    ):
        key = _primed(client, sync_redis, body)
        job = {"type": "completion", "request": body}
        bad = {"x-llm-gateway-cache": "bogus"}

        def refused() -> None:
            # The same route, body and auth, refused at the cache header: what the route
            # costs before the lookup.
            if client.post("/v1/chat/completions", json=body, headers=bad).status_code != 400:
                raise RuntimeError("expected a 400 for a bad cache header")

        paths: dict[str, Callable[[], object]] = {
            "GET /health c=1": lambda: client.get("/health").raise_for_status(),
            "same route, 400 before lookup c=1": refused,
            "hit c=1": lambda: _hit(client.post("/v1/chat/completions", json=body, headers=USE)),
            # The same entry as a completion job: the hit's record is stored (and indexed).
            "job hit c=1": lambda: _hit(client.post("/v1/jobs", json=job, headers=USE)),
            "redis GET c=1": lambda: sync_redis.get(key),
        }
        for call in paths.values():  # warm-up: connections, the script's SHA
            _sequential(call, 100)
        # Interleaved, one of each in turn: on a shared machine the load changes by the
        # second, and each path should see the same.
        results: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(requests):
            for name, call in paths.items():
                results[name] += _sequential(call, 1)

        def full() -> None:
            client.post("/v1/chat/completions", json=_body()).raise_for_status()

        results["uncached job c=1"] = _sequential(full, full_requests)
    return key, results


async def _ten_at_a_time(
    target: Target, body: dict[str, Any], key: bytes, requests: int
) -> dict[str, list[float]]:
    limits = httpx.Limits(max_connections=10)
    async with (
        httpx.AsyncClient(
            base_url=target.api_url, headers=target.auth, timeout=30, limits=limits
        ) as client,
        aioredis.Redis.from_url(target.redis_url) as r,
    ):

        async def hit() -> None:
            _hit(await client.post("/v1/chat/completions", json=body, headers=USE))

        async def floor() -> None:
            (await client.get("/health")).raise_for_status()

        async def get() -> None:
            await r.get(key)

        await _concurrent(hit, 200, 10)
        return {
            "GET /health c=10": await _concurrent(floor, requests, 10),
            "hit c=10": await _concurrent(hit, requests, 10),
            "redis GET c=10": await _concurrent(get, requests, 10),
        }


def run(target: Target, requests: int, full_requests: int) -> dict[str, Any]:
    body = _body()
    key, results = _one_at_a_time(target, body, requests, full_requests)
    results.update(asyncio.run(_ten_at_a_time(target, body, key, requests)))
    return {name: summary_ms(s) | {"n": len(s)} for name, s in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--full-requests", type=int, default=200)
    args = parser.parse_args()
    stack = BenchStack(worker_concurrency=16)
    try:
        summary = run(stack.start(), args.requests, args.full_requests)
    finally:
        stack.stop()
    rows = [
        (name, str(s["n"]), *(f"{s[p]:.2f}" for p in ("p50", "p90", "p99", "mean")))
        for name, s in summary.items()
    ]
    table("cache hit vs direct Redis GET (ms)", ("path", "n", "p50", "p90", "p99", "mean"), rows)
    added = {c: summary[f"hit c={c}"]["p50"] - summary[f"redis GET c={c}"]["p50"] for c in (1, 10)}
    table(
        f"added by the gateway at p50 (bar ≤ {BAR_MS:g} ms)",
        ("concurrency", "added ms", "bar"),
        [(f"c={c}", f"{ms:.2f}", verdict(ms <= BAR_MS)) for c, ms in added.items()],
    )
    over_floor = {
        c: summary[f"hit c={c}"]["p50"] - summary[f"GET /health c={c}"]["p50"] for c in (1, 10)
    }
    table(
        "a hit over the API's floor (GET /health, no auth, no body) at p50",
        ("concurrency", "ms"),
        [(f"c={c}", f"{ms:.2f}") for c, ms in over_floor.items()],
    )
    save(
        "cache_bench",
        {"summary_ms": summary, "added_p50_ms": added, "over_floor_p50_ms": over_floor},
    )


if __name__ == "__main__":
    main()
