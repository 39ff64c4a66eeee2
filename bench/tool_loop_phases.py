"""The tool-loop measurements. Each sets the emulator and stand-in latency it needs, prints
its table, saves ``bench/results/tool_loop_<name>.json`` and returns the same dict."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from measure import Call, Shape, interleaved_latency, paired_latency, summary_ms
from phases import CHAT_BODY, CHAT_PATH, EMULATOR_AUTH, QUANTILES, direct_call, load
from report import console, cpu_table, error_text, save, table
from stack import Target, emulator_latency
from tool_loop_calls import (
    MODEL,
    PARALLEL_CALLS,
    SEARCH_CALL,
    DirectLoop,
    ToolCallSpec,
    loop_request,
    tool_definitions,
    with_definitions,
)

from emulator.downstream import DownstreamControl


@dataclass(frozen=True, slots=True)
class Paths:
    """The loop both ways at concurrency 1, and a plain completion both ways."""

    direct_loop: DirectLoop
    gateway_loop: Call
    direct_plain: Call
    gateway_plain: Call


@contextmanager
def paths(target: Target, calls: Sequence[ToolCallSpec]) -> Iterator[Paths]:
    """Keep-alive clients for every path: connection set-up is not what is measured."""
    request = loop_request(calls)
    direct_request = with_definitions(request, tool_definitions(target))
    with (
        httpx.Client(base_url=target.api_url, headers=target.auth, timeout=120) as gateway,
        httpx.Client(base_url=target.emulator_url, headers=EMULATOR_AUTH, timeout=60) as emulator,
        httpx.Client(base_url=target.downstream_url, timeout=60) as stand_in,
        ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="tool") as pool,
    ):
        yield Paths(
            DirectLoop(emulator, stand_in, direct_request, pool),
            Call(gateway, CHAT_PATH, request),
            direct_call(emulator, MODEL),
            Call(gateway, CHAT_PATH, CHAT_BODY),
        )


def stand_in_check(control: DownstreamControl, expected: int) -> dict[str, int]:
    """How many tool calls reached the stand-in, against how many the phase made: fewer
    means the gateway did not run the loop it was asked to."""
    seen = control.requests("/v1/")
    failed = sum(1 for r in seen if r["status"] != 200)
    check = {"seen": len(seen), "expected": expected, "failed": failed}
    if len(seen) != expected or failed:
        console.print(f"[bold red]stand-in calls: {check}[/]")
    return check


def _row(label: str, path: str, stats: dict[str, float]) -> tuple[str, ...]:
    return (label, path, *(f"{stats[q]:.2f}" for q in QUANTILES))


def run_overhead(target: Target, requests: int, warmup: int) -> dict[str, Any]:
    """(1) A one-round loop through the gateway against the same three wire calls made by
    the bench, and a plain completion both ways; everything answers at once, so the
    differences are the gateway's own cost."""
    emulator_latency(target, 0)
    control = DownstreamControl(target.downstream_url)
    control.reset()
    with paths(target, [SEARCH_CALL]) as p:
        runs = interleaved_latency(
            (p.direct_loop, p.gateway_loop, p.direct_plain, p.gateway_plain), requests, warmup
        )
    check = stand_in_check(control, 2 * (requests + warmup))
    control.reset()
    loop_d, loop_g, plain_d, plain_g = (summary_ms(times) for times in runs)
    loop_added = {q: loop_g[q] - loop_d[q] for q in QUANTILES}
    plain_added = {q: plain_g[q] - plain_d[q] for q in QUANTILES}
    per_round = {q: loop_added[q] - plain_added[q] for q in QUANTILES}
    table(
        f"tool loop overhead (ms): concurrency 1, emulator 0 ms, stand-in 0 ms,"
        f" {requests} requests per row",
        ("request", "path", *QUANTILES),
        [
            _row("one-round loop", "direct (3 calls)", loop_d),
            _row("", "gateway", loop_g),
            _row("", "added", loop_added),
            _row("plain completion", "direct", plain_d),
            _row("", "gateway", plain_g),
            _row("", "added", plain_added),
            _row("the round itself", "loop added - plain added", per_round),
        ],
        left=2,
    )
    loop_ratio, plain_ratio = loop_g["p50"] / loop_d["p50"], plain_g["p50"] / plain_d["p50"]
    console.print(
        f"p50: the loop via the gateway is {loop_ratio:.2f}x the direct calls"
        f" (+{loop_added['p50']:.2f} ms); a plain completion {plain_ratio:.2f}x"
        f" (+{plain_added['p50']:.2f} ms); one tool round costs {per_round['p50']:.2f} ms"
        " on top of a plain request"
    )
    result = {
        "requests": requests,
        "warmup": warmup,
        "loop": {"direct_ms": loop_d, "gateway_ms": loop_g, "added_ms": loop_added},
        "plain": {"direct_ms": plain_d, "gateway_ms": plain_g, "added_ms": plain_added},
        "per_round_ms": per_round,
        "ratio_p50": {"loop": loop_ratio, "plain": plain_ratio},
        "stand_in_calls": check,
    }
    save("tool_loop_overhead", result)
    return result


def run_parallel(
    target: Target, requests: int, warmup: int, tool_latency_ms: int
) -> dict[str, Any]:
    """(2) One turn with several tool calls against a slow stand-in: run at once, the round
    takes about one call's latency; one after another, the sum of them."""
    calls = PARALLEL_CALLS
    emulator_latency(target, 0)
    control = DownstreamControl(target.downstream_url)
    control.reset()
    control.behave("/v1/", latency_ms=tool_latency_ms)
    try:
        with paths(target, calls) as p:
            direct_s, gateway_s = paired_latency(p.direct_loop, p.gateway_loop, requests, warmup)
        check = stand_in_check(control, 2 * len(calls) * (requests + warmup))
    finally:
        control.reset()
    ideal, sequential = float(tool_latency_ms), float(len(calls) * tool_latency_ms)
    runs = {"direct (calls at once)": summary_ms(direct_s), "gateway": summary_ms(gateway_s)}
    rows = [
        (
            name,
            *(f"{s[q]:.1f}" for q in ("p50", "p90", "p99")),
            f"{s['p50'] - ideal:+.1f}",
            f"{sequential / s['p50']:.2f}x",
        )
        for name, s in runs.items()
    ]
    rows += [
        ("ideal: one call", f"{ideal:.1f}", "", "", "+0.0", f"{len(calls)}.00x"),
        (f"sequential: {len(calls)} calls", f"{sequential:.1f}", "", "", "", "1.00x"),
    ]
    table(
        f"parallel tool calls (ms): {len(calls)} calls in one turn, stand-in {tool_latency_ms} ms"
        f" each, emulator 0 ms, {requests} loops per row",
        ("path", "p50", "p90", "p99", "p50 - ideal", "speed-up vs sequential"),
        rows,
    )
    gateway = runs["gateway"]
    result = {
        "requests": requests,
        "warmup": warmup,
        "tools": [c["name"] for c in calls],
        "tool_latency_ms": tool_latency_ms,
        "ideal_ms": ideal,
        "sequential_ms": sequential,
        "direct_ms": runs["direct (calls at once)"],
        "gateway_ms": gateway,
        "over_ideal_p50_ms": gateway["p50"] - ideal,
        "speedup_p50": sequential / gateway["p50"],
        "stand_in_calls": check,
    }
    save("tool_loop_parallel", result)
    return result


def run_concurrent(target: Target, shape: Shape, model_latency_ms: int) -> dict[str, Any]:
    """(3) Closed-loop clients each running one-round loops back to back; each loop is two
    model turns, so at most clients / (2 x latency) loops per second."""
    emulator_latency(target, model_latency_ms)
    control = DownstreamControl(target.downstream_url)
    control.reset()
    try:
        run, cpu = load(target, target.api_url, CHAT_PATH, loop_request([SEARCH_CALL]), 200, shape)
        check = stand_in_check(control, run.completed)
    finally:
        control.reset()
        emulator_latency(target, 0)
    loop_s = 2 * model_latency_ms / 1000
    ideal = shape.clients / loop_s
    lat = summary_ms(run.latencies)
    table(
        f"concurrent tool loops: {shape.clients} clients, one round each, emulator"
        f" {model_latency_ms} ms per turn, {shape.duration_s:g} s (ideal {ideal:.0f} loops/s)",
        ("loops/s", "of ideal", "p50 ms", "p90 ms", "p99 ms", "ideal ms", "ok", "errors"),
        [
            (
                f"{run.rate:.1f}",
                f"{run.rate / ideal:.1%}",
                *(f"{lat[q]:.1f}" for q in ("p50", "p90", "p99")),
                f"{1000 * loop_s:.0f}",
                str(run.ok),
                error_text(run),
            )
        ],
        left=0,
    )
    if cpu:
        cpu_table("concurrent tool loops (ms per loop)", cpu)
    result = run.as_dict() | {
        "model_latency_ms": model_latency_ms,
        "warmup_s": shape.warmup_s,
        "ideal_per_s": ideal,
        "ratio": run.rate / ideal,
        "cpu": cpu,
        "stand_in_calls": check,
    }
    save("tool_loop_concurrent", result)
    return result
