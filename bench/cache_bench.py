"""What a response-cache hit costs through ``POST /v1/chat/completions``, against a direct
Redis GET of the same entry: the bar is p50 ≤ 2 ms added. Both at concurrency 1 and 10,
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


def run(target: Target, requests: int, full_requests: int) -> dict[str, Any]:
    body = _body()
    with httpx.Client(base_url=target.api_url, headers=target.auth, timeout=30) as client:
        primed = client.post("/v1/chat/completions", json=body, headers=USE)
        primed.raise_for_status()
        sync_redis = redis.Redis.from_url(target.redis_url)
        entries = list(sync_redis.scan_iter("llmgw:cache:bench:*"))
        if len(entries) != 1:
            raise RuntimeError(f"expected one cache entry, found {len(entries)}")
        key = entries[0]

        def hit() -> None:
            _hit(client.post("/v1/chat/completions", json=body, headers=USE))

        def full() -> None:
            client.post("/v1/chat/completions", json=_body()).raise_for_status()

        _sequential(hit, 200)  # warm-up: connections, the script's SHA, the JIT-less paths
        _sequential(lambda: sync_redis.get(key), 200)

        def floor() -> None:
            client.get("/health").raise_for_status()

        results = {
            "GET /health c=1": _sequential(floor, requests),
            "hit c=1": _sequential(hit, requests),
            "redis GET c=1": _sequential(lambda: sync_redis.get(key), requests),
            "uncached job c=1": _sequential(full, full_requests),
        }
        sync_redis.close()

    async def concurrent() -> dict[str, list[float]]:
        limits = httpx.Limits(max_connections=10)
        async with httpx.AsyncClient(
            base_url=target.api_url, headers=target.auth, timeout=30, limits=limits
        ) as aclient:
            r = aioredis.Redis.from_url(target.redis_url)

            async def ahit() -> None:
                _hit(await aclient.post("/v1/chat/completions", json=body, headers=USE))

            async def aget() -> None:
                await r.get(key)

            async def afloor() -> None:
                (await aclient.get("/health")).raise_for_status()

            await _concurrent(ahit, 200, 10)
            out = {
                "GET /health c=10": await _concurrent(afloor, requests, 10),
                "hit c=10": await _concurrent(ahit, requests, 10),
                "redis GET c=10": await _concurrent(aget, requests, 10),
            }
            await r.aclose()
            return out

    results.update(asyncio.run(concurrent()))
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
