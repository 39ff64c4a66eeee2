"""The batch bench's arithmetic: what reached the emulator and the stand-in, each step's
time from the results, and the throughput the instance's limits allow. Pure functions."""

from __future__ import annotations

import heapq
import math
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from limit_windows import WINDOW_S, concurrency_stats, max_in_window
from measure import percentile

from limits.capacity import WINDOW_MS

STEPS = ("gather", "enhance", "review")
_STEP_MARK = "[enhancement step: "


@dataclass(frozen=True, slots=True)
class Limits:
    """The benched instance's limits and the emulator's latency per call."""

    max_concurrency: int
    rpm: int | None
    latency_s: float


def step_of(record: dict[str, Any]) -> str:
    """Which step a model call belongs to, from the marker on the last user message's
    first line (``tasks/prompts``); a gather call is ``gather:search`` on turn 0 (the
    model asks for the tool) and ``gather:notes`` after the tool results."""
    messages = (record.get("body") or {}).get("messages") or []
    users = [m for m in messages if m.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    text = content if isinstance(content, str) else str(content)
    first = text.lstrip().partition("\n")[0]
    if not first.startswith(_STEP_MARK):
        return "other"
    step = first[len(_STEP_MARK) :].rstrip("]")
    if step == "gather":
        return "gather:search" if not record.get("turn") else "gather:notes"
    return step


def call_stats(records: Sequence[dict[str, Any]], limits: Limits) -> dict[str, Any]:
    """The model calls the emulator saw: by step, errors, time in the emulator, peak in
    flight and the mean in flight over the busy span, the peak in any 60 s window."""
    records = sorted(records, key=lambda r: r["t"])
    times = [float(r["t"]) for r in records]
    served = [r["t_done"] - r["t"] for r in records if r["t_done"] is not None]
    conc = concurrency_stats(records, limits.max_concurrency, limits.latency_s)
    peak_minute, _ = max_in_window(times, [1.0] * len(times), WINDOW_S)
    return {
        "calls": len(records),
        "by_step": dict(Counter(step_of(r) for r in records)),
        "errors": sum(1 for r in records if r["status"] != 200),
        "served_s": {"p50": percentile(served, 50), "p95": percentile(served, 95)},
        "span_s": conc["span_s"],
        "peak_in_flight": conc["peak"],
        "mean_in_flight": conc["mean_in_flight"],
        "calls_per_s": conc["achieved"],
        "peak_per_minute": peak_minute,
    }


def tool_stats(requests: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The stand-in's side of the tool calls: how many, failures, seconds each."""
    seconds = [r["t_end"] - r["t_start"] for r in requests if r.get("t_end") is not None]
    return {
        "calls": len(requests),
        "failed": sum(1 for r in requests if r["status"] != 200),
        "seconds": {"p50": percentile(seconds, 50), "p95": percentile(seconds, 95)},
    }


def result_stats(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Outcomes of the documents and each step's seconds (``result.steps.*.seconds``: from
    the step's start to its answer, capacity waits included)."""
    done = [r["result"] for r in results if r.get("result")]
    steps: dict[str, Any] = {}
    for step in STEPS:
        secs = [float(d["steps"][step]["seconds"]) for d in done if step in d.get("steps", {})]
        steps[step] = {
            "n": len(secs),
            "p50": percentile(secs, 50),
            "p95": percentile(secs, 95),
            "mean": sum(secs) / len(secs) if secs else math.nan,
        }
    errors = Counter(str((r.get("error") or {}).get("type")) for r in results if r.get("error"))
    return {
        "statuses": dict(Counter(r["status"] for r in results)),
        "validation_failed": sum(1 for d in done if not d["validation"]["passed"]),
        "tool_calls": sum(int(d["steps"].get("gather", {}).get("tool_calls", 0)) for d in done),
        "errors": dict(errors),
        "steps": steps,
    }


def slot_use(
    samples: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]], limits: Limits
) -> dict[str, Any]:
    """Where the concurrency slots went, over the 0.5 s samples in which concurrency was
    the only thing between waiting work and the provider: documents still queued or
    running, and the rpm window not full. Per sample, of ``max_concurrency`` slots: *at
    the provider* (calls the emulator was serving at that instant), *held elsewhere*
    (admitted by the gateway, ``in_flight`` of ``GET /v1/providers``, but not at the
    emulator: admission to send, reply to release, which includes the checkpoint), and
    *free* (not admitted to anyone)."""
    rpm = limits.rpm or math.inf
    busy = [
        s for s in samples if s["queued"] + s["running"] > 0 and s["requests_last_minute"] < rpm
    ]
    intervals = [(r["t"], r["t_done"] or r["t"]) for r in records]
    at_provider = [sum(1 for a, b in intervals if a <= s["at"] < b) for s in busy]
    admitted = [max(s["in_flight"], n) for s, n in zip(busy, at_provider, strict=True)]

    def share(values: Sequence[float]) -> float:
        return sum(values) / len(values) / limits.max_concurrency if values else math.nan

    return {
        "samples": len(busy),
        "at_provider": share(at_provider),
        "held_elsewhere": share([g - n for g, n in zip(admitted, at_provider, strict=True)]),
        "free": share([max(limits.max_concurrency - g, 0) for g in admitted]),
        "free_while_waiting": share(
            [
                max(limits.max_concurrency - g, 0)
                for s, g in zip(busy, admitted, strict=True)
                if s["waiting"] > 0
            ]
        ),
        "max_waiting": max((s["waiting"] for s in samples), default=0),
        "max_requests_last_minute": max((s["requests_last_minute"] for s in samples), default=0),
    }


def ideal(limits: Limits, calls: int, documents: int) -> dict[str, Any]:
    """The throughput the limits allow, two ways.

    *steady*: calls/s = min(max_concurrency / latency, rpm / 60), docs/min = 60 x that /
    calls per document: what a long backlog can sustain.
    *from empty*: the shortest time ``calls`` calls can take from an empty rpm window
    (``empty_window_s``): a sliding window admits a whole minute's rpm at once, so a batch
    of fewer than a few minutes can beat the steady rate. Both leave out the order of the
    calls within a document and the tool calls (which hold no capacity slot)."""
    by_concurrency = limits.max_concurrency / limits.latency_s
    by_rpm = limits.rpm / 60 if limits.rpm else math.inf
    calls_per_s = min(by_concurrency, by_rpm)
    per_doc = calls / documents if calls and documents else math.nan
    fastest_s = empty_window_s(calls, limits)
    return {
        **asdict(limits),
        "calls_per_s_by_concurrency": by_concurrency,
        "calls_per_s_by_rpm": by_rpm if limits.rpm else None,
        "binding": "concurrency" if by_concurrency <= by_rpm else "rpm",
        "calls_per_s": calls_per_s,
        "calls_per_document": per_doc,
        "docs_per_min": 60 * calls_per_s / per_doc,
        "empty_window_wall_s": fastest_s,
        "empty_window_docs_per_min": 60 * documents / fastest_s if fastest_s else math.nan,
    }


def empty_window_s(calls: int, limits: Limits) -> float:
    """Greedy schedule: each call starts on the first free slot, and not before the call
    ``rpm`` places earlier left the limiter's window (60.5 s); when the last call ends."""
    window_s = WINDOW_MS / 1000
    free_at = [0.0] * limits.max_concurrency
    starts: deque[float] = deque()
    for _ in range(calls):
        start = heapq.heappop(free_at)
        if limits.rpm and len(starts) == limits.rpm:
            start = max(start, starts.popleft() + window_s)
        starts.append(start)
        heapq.heappush(free_at, start + limits.latency_s)
    return max(free_at) if calls else 0.0
