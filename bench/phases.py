"""The three measurements. Each sets the emulator latency it needs, prints its tables, saves
``bench/results/<name>.json`` and returns the same dict for the summary."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from measure import Call, LoadResult, Shape, closed_loop, paired_latency, summary_ms
from report import console, cpu_table, cpu_usage, error_text, save, table, verdict
from stack import Target, clear_emulator_records, cpu_seconds, emulator_latency
from sync_stages import run_stages, stages_under_load

MODELS = ("gpt-4o-mini", "claude-sonnet-4-5")
MESSAGES = [{"role": "user", "content": "hi"}]
CHAT_PATH = "/v1/chat/completions"
CHAT_BODY = {"model": MODELS[0], "messages": MESSAGES}
# The bars of the performance work (docs/benchmarks.md): added p50 and p99 at c=1, and at
# c=100 the share of the ideal rate with its p99.
ADDED_P50_TARGET_MS = 3.0
ADDED_P99_TARGET_MS = 8.0
THROUGHPUT_TARGET = 0.95
THROUGHPUT_P99_TARGET_MS = 600.0
QUANTILES = ("p50", "p90", "p99", "mean")
# The emulator accepts any key; a real one must never be sent to it.
EMULATOR_AUTH = {"Authorization": "Bearer bench"}


def direct_call(client: httpx.Client, model: str) -> Call:
    """The emulator in the provider's own wire protocol: what a client without the gateway
    would send."""
    if model.startswith("claude"):
        body = {"model": model, "max_tokens": 256, "messages": MESSAGES}
        headers = {"x-api-key": "bench", "anthropic-version": "2023-06-01"}
        return Call(client, "/v1/messages", body, headers)
    return Call(client, CHAT_PATH, {**CHAT_BODY, "model": model}, EMULATOR_AUTH)


def run_latency(target: Target, models: list[str], requests: int, warmup: int) -> dict[str, Any]:
    """(a) Sequential requests, direct and via the gateway in alternation; the emulator
    answers at once, so the difference is what the gateway adds."""
    emulator_latency(target, 0)
    per_model: dict[str, Any] = {}
    # One keep-alive client per path: connection set-up is not what we measure.
    with (
        httpx.Client(base_url=target.emulator_url, timeout=30) as direct,
        httpx.Client(base_url=target.api_url, headers=target.auth, timeout=60) as gateway,
    ):
        for model in models:
            via = Call(gateway, CHAT_PATH, {**CHAT_BODY, "model": model})
            direct_s, gateway_s = paired_latency(direct_call(direct, model), via, requests, warmup)
            d, g = summary_ms(direct_s), summary_ms(gateway_s)
            added = {q: g[q] - d[q] for q in QUANTILES}
            met = added["p50"] <= ADDED_P50_TARGET_MS and added["p99"] <= ADDED_P99_TARGET_MS
            per_model[model] = {"direct_ms": d, "gateway_ms": g, "added_ms": added, "met": met}
    rows = [
        (model, label, *(f"{res[key][q]:.2f}" for q in QUANTILES))
        for model, res in per_model.items()
        for label, key in (
            ("direct", "direct_ms"),
            ("gateway", "gateway_ms"),
            ("added", "added_ms"),
        )
    ]
    title = f"sync latency (ms), concurrency 1, emulator 0 ms, {requests} requests per row"
    table(title, ("model", "path", *QUANTILES), rows, left=2)
    for model, res in per_model.items():
        target_text = (
            f"added p50 ≤ {ADDED_P50_TARGET_MS:g} ms, p99 ≤ {ADDED_P99_TARGET_MS:g} ms ({model})"
        )
        added_ms = res["added_ms"]
        console.print(
            f"target {target_text}: {added_ms['p50']:.2f} / {added_ms['p99']:.2f} ms"
            f" {verdict(res['met'])}"
        )
    # Then where the added time goes, stage by stage (its own sequential requests).
    stages = run_stages(target, models[0], min(requests, 200))
    result = {"requests": requests, "warmup": warmup, "models": per_model, "stages": stages}
    save("latency", result)
    return result


def load(
    target: Target, url: str, path: str, body: dict[str, Any], expect: int, shape: Shape
) -> tuple[LoadResult, dict[str, dict[str, float]] | None]:
    """A closed-loop run; through the gateway, also the CPU use of the stack's processes
    (when the bench started the stack, so it knows them)."""
    clear_emulator_records(target)
    via_gateway = url == target.api_url
    headers = target.auth if via_gateway else EMULATOR_AUTH
    before, started = cpu_seconds(target), time.perf_counter()
    result = asyncio.run(closed_loop(url, headers, path, body, expect, shape))
    wall = time.perf_counter() - started
    if target.root_pid is None or not via_gateway:
        return result, None
    # Whole-run CPU over whole-run requests: the warm-up is in both, so the ratio holds.
    return result, cpu_usage(before, cpu_seconds(target), wall, result.completed)


def run_throughput(target: Target, shape: Shape, latency_ms: int, baseline: bool) -> dict[str, Any]:
    """(b) N closed-loop clients against a slow provider: at most N / latency req/s."""
    emulator_latency(target, latency_ms)
    ideal = shape.clients / (latency_ms / 1000)
    runs: dict[str, LoadResult] = {}
    if baseline:  # what this machine and load generator manage with no gateway in between
        runs["direct"], _ = load(target, target.emulator_url, CHAT_PATH, CHAT_BODY, 200, shape)
    runs["gateway"], cpu = load(target, target.api_url, CHAT_PATH, CHAT_BODY, 200, shape)
    gateway = runs["gateway"]
    ratio = gateway.rate / ideal
    rows = [
        (
            name,
            f"{run.rate:.1f}",
            f"{run.rate / ideal:.1%}",
            *(f"{run.as_dict()['latency_ms'][q]:.1f}" for q in ("p50", "p99")),
            str(run.ok),
            error_text(run),
        )
        for name, run in runs.items()
    ]
    title = (
        f"sync throughput: {shape.clients} clients, emulator {latency_ms} ms,"
        f" {shape.duration_s:g} s (ideal {ideal:.0f} req/s)"
    )
    table(title, ("path", "req/s", "of ideal", "p50 ms", "p99 ms", "ok", "errors"), rows)
    p99 = gateway.as_dict()["latency_ms"]["p99"]
    met = ratio >= THROUGHPUT_TARGET and p99 <= THROUGHPUT_P99_TARGET_MS and not gateway.errors
    console.print(
        f"target ≥ {THROUGHPUT_TARGET:.0%} of ideal, p99 ≤ {THROUGHPUT_P99_TARGET_MS:g} ms,"
        f" 0 errors: {ratio:.1%}, {p99:.0f} ms {verdict(met)}"
    )
    if cpu:
        cpu_table("sync throughput", cpu)
    stages = stages_under_load(target, gateway.jobs) if gateway.jobs else None
    result = gateway.as_dict() | {
        "emulator_latency_ms": latency_ms,
        "ideal_per_s": ideal,
        "ratio": ratio,
        "met": met,
        "direct": runs["direct"].as_dict() if "direct" in runs else None,
        "cpu": cpu,
        "stages": stages,
    }
    save("throughput", result)
    return result


def run_accept(target: Target, shape: Shape) -> dict[str, Any]:
    """(c) POST /v1/jobs as fast as the clients can; the workers run the jobs meanwhile."""
    emulator_latency(target, 0)
    body = {"type": "completion", "request": CHAT_BODY}
    accepted, cpu = load(target, target.api_url, "/v1/jobs", body, 202, shape)
    drain = drain_seconds(target, accepted)
    lat = summary_ms(accepted.latencies)
    table(
        f"async accept (POST /v1/jobs → 202): {shape.clients} clients, {shape.duration_s:g} s",
        ("accepted/s", "p50 ms", "p99 ms", "ok", "errors", "backlog done after"),
        [
            (
                f"{accepted.rate:.1f}",
                f"{lat['p50']:.2f}",
                f"{lat['p99']:.2f}",
                str(accepted.ok),
                error_text(accepted),
                "timed out" if drain is None else f"{drain:.1f} s",
            )
        ],
        left=0,
    )
    if cpu:  # the workers are still draining the backlog: their ms/req is a lower bound
        cpu_table("async accept", cpu)
    result = accepted.as_dict() | {"backlog_drain_s": drain, "cpu": cpu}
    save("accept", result)
    return result


def drain_seconds(target: Target, accepted: LoadResult, limit_s: float = 300) -> float | None:
    """Seconds after the load stops until the last accepted job is finished (a queue is FIFO
    per priority, so that is when the workers have caught up), or None past ``limit_s``."""
    if accepted.last_response is None:
        return None
    job_id = accepted.last_response.json()["id"]
    started = time.perf_counter()
    response = httpx.get(
        f"{target.api_url}/v1/jobs/{job_id}/wait",
        params={"timeout": limit_s},
        headers=target.auth,
        timeout=limit_s + 30,
    )
    return time.perf_counter() - started if response.status_code == 200 else None
