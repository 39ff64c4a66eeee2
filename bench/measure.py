"""Timing primitives for the gateway bench: percentiles, paired sequential latency, and a
closed-loop load generator (N clients, each sending its next request when the last ends)."""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

# The header a synchronous answer names its job in.
JOB_ID_HEADER = "x-llm-gateway-job-id"


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default), so p99 of 300 samples is not simply
    the third-largest value."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/mean in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "p50": percentile(ms, 50),
        "p90": percentile(ms, 90),
        "p99": percentile(ms, 99),
        "mean": sum(ms) / len(ms) if ms else math.nan,
    }


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP call to time: a client plus what to send with it."""

    client: httpx.Client
    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def timed(self) -> float:
        """Seconds for one call; any non-2xx fails the run rather than skewing it."""
        started = time.perf_counter()
        response = self.client.post(self.path, json=self.body, headers=self.headers)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        return elapsed


class Timed(Protocol):
    """One thing to time: an HTTP call, or a sequence of them."""

    def timed(self) -> float:
        """Seconds for one run; a failure raises rather than skewing the numbers."""
        ...


def paired_latency(
    a: Timed, b: Timed, requests: int, warmup: int
) -> tuple[list[float], list[float]]:
    """Time ``a`` and ``b`` back to back, ``requests`` times each, at concurrency 1
    (``interleaved_latency`` of two: the order flips every pair)."""
    times_a, times_b = interleaved_latency((a, b), requests, warmup)
    return times_a, times_b


def interleaved_latency(calls: Sequence[Timed], requests: int, warmup: int) -> list[list[float]]:
    """Time every one of ``calls`` once per round, ``requests`` rounds, at concurrency 1;
    the times per call, in the order given.

    A round shares the machine's noise (a CPU spike hits all of its calls or none), and the
    order rotates every round so no call always runs on a cache or CPU-frequency state
    another one just warmed up."""
    for _ in range(warmup):
        for call in calls:
            call.timed()
    times: list[list[float]] = [[] for _ in calls]
    for i in range(requests):
        for k in range(len(calls)):
            j = (i + k) % len(calls)
            times[j].append(calls[j].timed())
    return times


@dataclass(frozen=True, slots=True)
class Shape:
    """How hard and how long: closed-loop clients, then the warm-up and the measured window."""

    clients: int
    warmup_s: float
    duration_s: float


@dataclass(slots=True)
class LoadResult:
    """What a closed-loop run saw inside its measurement window."""

    clients: int
    window_start: float  # perf_counter() seconds
    duration_s: float
    ok: int = 0
    # Successes over the whole run, warm-up and tail included (for CPU per request).
    completed: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    # Kept unparsed: decoding every body would spend the load generator's CPU for nothing.
    last_response: httpx.Response | None = None
    # Successes inside the window that name their job (the gateway's sync answers): the
    # job id and the wall-clock send and receipt, to set beside the job's own record.
    jobs: list[tuple[str, float, float]] = field(default_factory=list)

    def record(
        self, kind: str, response: httpx.Response | None, started: float, finished: float
    ) -> None:
        """Count one request: for throughput if it *finished* inside the window (so work in
        flight at the edges is not double counted), for latency and errors if it *started*
        inside it (so the ramp-up, when queues fill and connections open, is not in the
        percentiles)."""
        if not kind:
            self.completed += 1
            if self.window_start <= finished <= self.window_start + self.duration_s:
                self.ok += 1
                self.last_response = response
        if started >= self.window_start:
            if kind:
                self.errors[kind] += 1
            else:
                self.latencies.append(finished - started)
                job_id = response.headers.get(JOB_ID_HEADER) if response is not None else None
                if job_id:
                    wall = time.time() - time.perf_counter()  # perf_counter → epoch
                    self.jobs.append((job_id, started + wall, finished + wall))

    @property
    def rate(self) -> float:
        return self.ok / self.duration_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "duration_s": self.duration_s,
            "ok": self.ok,
            "rate_per_s": self.rate,
            "latency_ms": summary_ms(self.latencies),
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
        }


async def closed_loop(
    base_url: str,
    headers: dict[str, str],
    path: str,
    body: dict[str, Any],
    expect_status: int,
    shape: Shape,
) -> LoadResult:
    """``shape.clients`` tasks each POST back to back for the warm-up plus the window.

    Each task has its own ``AsyncClient`` holding one keep-alive connection. One shared
    client with a 100+ connection pool would measure httpcore instead of the gateway: its
    pool walks (and polls the socket of) every connection on each request and release,
    O(connections) per request, which saturated a core at ~40 req/s here even against the
    bare emulator (encode/httpcore#924, #1035).

    Only the window after the warm-up counts (see ``LoadResult.record``)."""
    result = LoadResult(shape.clients, time.perf_counter() + shape.warmup_s, shape.duration_s)
    window_end = result.window_start + shape.duration_s
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    # Shared: httpx builds a fresh SSL context per client otherwise (~30 ms of CPU each),
    # which for 100 clients eats the warm-up even though every URL here is plain http.
    tls = ssl.create_default_context()

    async def one_client() -> None:
        async with httpx.AsyncClient(
            base_url=base_url, headers=headers, limits=limits, timeout=120, verify=tls
        ) as client:
            while (started := time.perf_counter()) < window_end:
                response, kind = await _post(client, path, body, expect_status)
                result.record(kind, response, started, time.perf_counter())

    await asyncio.gather(*(one_client() for _ in range(shape.clients)))
    return result


async def _post(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], expect_status: int
) -> tuple[httpx.Response | None, str]:
    """The response and an error kind ("" when the status is the expected one)."""
    try:
        response = await client.post(path, json=body)
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    return response, "" if response.status_code == expect_status else str(response.status_code)


def cpu_per_call(
    paths: Mapping[str, Callable[[], object]], calls: int, rounds: int, warmup: int
) -> dict[str, list[float]]:
    """This process's CPU seconds per call of each path, one figure per round: ``warmup``
    calls each first, then ``rounds`` rounds of ``calls``, the paths' order reversed every
    other round, so a drift of the machine during the run weighs on every path alike."""
    for path in paths.values():
        for _ in range(warmup):
            path()
    per_call: dict[str, list[float]] = {name: [] for name in paths}
    for round_ in range(rounds):
        order = list(paths) if round_ % 2 == 0 else list(reversed(paths))
        for name in order:
            started = time.process_time()
            for _ in range(calls):
                paths[name]()
            per_call[name].append((time.process_time() - started) / calls)
    return per_call
