"""Window arithmetic for the limits bench: peaks in sliding windows, whole-window sums and
calls in flight, from the emulator's request log. Pure functions of sorted times."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

WINDOW_S = 60.0
# How far edge_needed looks for a shorter window in which the limit holds.
MAX_EDGE_S = 5.0


def max_in_window(
    times: Sequence[float], weights: Sequence[float], span: float
) -> tuple[float, float]:
    """The largest weight sum in any [t, t + span) with t a request time (sorted ``times``),
    and that t; a window starting anywhere else holds no more than the one at the next
    request."""
    best, best_at, total = 0.0, math.nan, 0.0
    end = 0
    for start, t0 in enumerate(times):
        while end < len(times) and times[end] < t0 + span:
            total += weights[end]
            end += 1
        if total > best:
            best, best_at = total, t0
        total -= weights[start]
    return best, best_at


def edge_needed(times: Sequence[float], weights: Sequence[float], limit: int) -> float | None:
    """How much shorter than 60 s the windows must be for the limit to hold (0 when it
    holds; to the millisecond), or None if not even within 5 s. The emulator sees receipt
    times, the limiter admission times on Redis's clock: an excess that vanishes within
    a fraction of a second is the spread of admission-to-send delays (e.g. a cold worker's
    first calls), one that needs seconds is the limiter letting too much through."""
    if max_in_window(times, weights, WINDOW_S)[0] <= limit:
        return 0.0
    if max_in_window(times, weights, WINDOW_S - MAX_EDGE_S)[0] > limit:
        return None
    holds, fails = WINDOW_S - MAX_EDGE_S, WINDOW_S  # the peak only grows with the window
    while fails - holds > 0.001:
        mid = (holds + fails) / 2
        if max_in_window(times, weights, mid)[0] <= limit:
            holds = mid
        else:
            fails = mid
    return WINDOW_S - holds


def full_windows(times: Sequence[float], weights: Sequence[float], span: float) -> list[float]:
    """Weight sums of [t0 + k·span, t0 + (k+1)·span) for every window that ends before the
    last request: requests came after it, so the backlog was not empty during it."""
    if not times:
        return []
    t0 = times[0]
    sums = [0.0] * int((times[-1] - t0) // span)
    for t, weight in zip(times, weights, strict=True):
        k = int((t - t0) // span)
        if k < len(sums):
            sums[k] += weight
    return sums


def window_stats(times: Sequence[float], weights: Sequence[float], limit: int) -> dict[str, Any]:
    """rpm/tpm: peak per sliding minute and mean per full minute, both against the limit."""
    peak, peak_at = max_in_window(times, weights, WINDOW_S)
    windows = full_windows(times, weights, WINDOW_S)
    achieved = sum(windows) / len(windows) if windows else None
    return {
        "peak": peak,
        "peak_window_at_s": peak_at - times[0] if times else None,
        "fidelity": peak / limit,
        "holds_with_edge_s": edge_needed(times, weights, limit),
        "full_windows": windows,
        "achieved": achieved,
        "utilization": None if achieved is None else achieved / limit,
    }


def peak_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """Most intervals open at once; an end and a start at the same instant do not overlap
    (a slot released and reused is not two calls)."""
    events = sorted(chain.from_iterable(((a, 1), (b, -1)) for a, b in intervals))
    peak = current = 0
    for _, step in events:  # -1 sorts before +1 at equal times
        current += step
        peak = max(peak, current)
    return peak


def concurrency_stats(
    records: Sequence[dict[str, Any]], limit: int, latency_s: float
) -> dict[str, Any]:
    """Peak calls in flight for this instance alone (from receipt to reply, per record: the
    emulator's own counter sums every instance), and throughput against limit / latency."""
    intervals = [(r["t"], r["t_done"] if r["t_done"] is not None else r["t"]) for r in records]
    peak = peak_overlap(intervals)
    span = max(b for _, b in intervals) - min(a for a, _ in intervals) if intervals else 0.0
    achieved = len(intervals) / span if span > 0 else None
    ideal = limit / latency_s
    return {
        "peak": peak,
        "fidelity": peak / limit,
        "span_s": span,
        "achieved": achieved,
        "ideal": ideal,
        "utilization": None if achieved is None else achieved / ideal,
        "mean_in_flight": sum(b - a for a, b in intervals) / span if span > 0 else None,
    }
