"""What a response-cache hit costs through ``POST /v1/chat/completions``, against a direct
Redis GET of the same entry: the bar is p50 ≤ 2 ms added. Both at concurrency 1 and 10,
with a hit through ``POST /v1/jobs`` (a record stored already succeeded) at concurrency 1,
on a private stack (``llm-gateway up``), with a full uncached job at concurrency 1 beside
them for scale, and the API's floor (``GET /health``: no auth, no body, no Redis) to
tell the cache's share from the HTTP stack's.

At c=1 each HTTP path is timed with two clients: httpx (what most Python callers use) and
the standard library's ``http.client`` on one kept-alive connection, a client about as
thin as redis-py is for the GET beside it. httpx alone costs ~1 ms a request here, which
is the client's, not the gateway's: the bar is judged on the thin client.

    .venv/bin/python bench/cache_bench.py [--requests 2000] [--full-requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
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


class _ThinClient:
    """``http.client`` on one kept-alive connection: the HTTP paths timed without httpx's
    own per-request cost."""

    def __init__(self, target: Target) -> None:
        address = httpx.URL(target.api_url)
        self._conn = http.client.HTTPConnection(address.host, address.port, timeout=30)
        self._auth = target.auth

    def health(self) -> None:
        self._conn.request("GET", "/health")
        response = self._conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"/health answered {response.status}")

    def hit(self, body: bytes) -> None:
        headers = {**self._auth, **USE, "content-type": "application/json"}
        self._conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        response = self._conn.getresponse()
        response.read()
        if response.status != 200 or response.getheader("x-llm-gateway-cache") != "hit":
            raise RuntimeError(f"expected a cache hit, got {response.status}")

    def close(self) -> None:
        self._conn.close()


def _one_at_a_time(
    target: Target, body: dict[str, Any], requests: int, full_requests: int
) -> tuple[bytes, dict[str, list[float]]]:
    thin = _ThinClient(target)
    with (
        httpx.Client(base_url=target.api_url, headers=target.auth, timeout=30) as client,
        redis.Redis.from_url(target.redis_url) as sync_redis,
    ):
        key = _primed(client, sync_redis, body)
        job = {"type": "completion", "request": body}
        bad = {"x-llm-gateway-cache": "bogus"}
        raw = json.dumps(body).encode()

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
            "GET /health c=1, thin client": thin.health,
            "hit c=1, thin client": lambda: thin.hit(raw),
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
    thin.close()
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
    redis_p50 = {c: summary[f"redis GET c={c}"]["p50"] for c in (1, 10)}
    added = {
        "c=1, thin client": summary["hit c=1, thin client"]["p50"] - redis_p50[1],
        "c=1, httpx": summary["hit c=1"]["p50"] - redis_p50[1],
        "c=10, httpx (async)": summary["hit c=10"]["p50"] - redis_p50[10],
    }
    table(
        f"added by the gateway at p50 (bar ≤ {BAR_MS:g} ms, judged on the thin client at c=1)",
        ("path", "added ms", "bar"),
        [
            (name, f"{ms:.2f}", verdict(ms <= BAR_MS) if name == "c=1, thin client" else "")
            for name, ms in added.items()
        ],
    )
    over_floor = {
        suffix.lstrip(", ") or "c=1": summary[f"hit {suffix}"]["p50"]
        - summary[f"GET /health {suffix}"]["p50"]
        for suffix in ("c=1, thin client", "c=1", "c=10")
    }
    table(
        "a hit over the API's floor (GET /health, no auth, no body) at p50",
        ("path", "ms"),
        [(name, f"{ms:.2f}") for name, ms in over_floor.items()],
    )
    save(
        "cache_bench",
        {"summary_ms": summary, "added_p50_ms": added, "over_floor_p50_ms": over_floor},
    )


if __name__ == "__main__":
    main()
