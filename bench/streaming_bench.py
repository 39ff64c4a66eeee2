"""Streaming benchmarks: time to first token through the gateway vs the emulator directly,
and many concurrent streams held by one API process. Prints tables and writes
``bench/results/streaming.json``.

    python bench/streaming_bench.py all              # start a private stack, run both
    python bench/streaming_bench.py ttft --requests 50
    python bench/streaming_bench.py concurrent --streams 500

Both paths are read by the same client code (httpx, SSE parsed by hand), so the client's
own cost is the same on each side; the difference is what the gateway adds.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from report import save, table, verdict
from stack import (
    Target,
    _role,
    descendants,
    nearest_rank,
    open_stack,
    stack_callback,
)

from emulator.client import EmulatorControl

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

ADDED_TTFT_P50_MS = 10.0
ADDED_TTFT_P99_MS = 25.0
CHUNK_RATIO_MIN = 0.9


def _directive(**script: Any) -> str:
    return f"<<emulator:{json.dumps(script)}>>"


@dataclass(slots=True)
class StreamResult:
    # Wall-clock send and first-content times (epoch seconds), for the stage breakdown.
    sent_at: float = 0.0
    first_at: float = 0.0
    job_id: str | None = None
    ttft_ms: float = 0.0
    total_ms: float = 0.0
    chunks: int = 0
    text: str = ""
    gaps_ms: list[float] = field(default_factory=list)
    error: str | None = None


async def _stream(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: Any
) -> StreamResult:
    """One streamed chat completion: time to the first content chunk, chunk count, text."""
    result = StreamResult(sent_at=time.time())
    started = time.perf_counter()
    last = started
    try:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            result.job_id = response.headers.get("x-llm-gateway-job-id")
            if response.status_code != 200:
                result.error = f"HTTP {response.status_code}"
                await response.aread()
                return result
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    error = chunk["error"]
                    result.error = f"in-stream {error.get('type')}: {error.get('message', '')[:80]}"
                    break
                choices = chunk.get("choices") or []
                content = choices[0].get("delta", {}).get("content") if choices else None
                if not content:
                    continue
                now = time.perf_counter()
                if result.chunks == 0:
                    result.ttft_ms = (now - started) * 1000
                    result.first_at = time.time()
                else:
                    result.gaps_ms.append((now - last) * 1000)
                last = now
                result.chunks += 1
                result.text += content
    except httpx.HTTPError as exc:
        result.error = type(exc).__name__
    result.total_ms = (time.perf_counter() - started) * 1000
    return result


app.callback()(stack_callback)


def _body(prefix: str, tokens: int, latency_ms: int, interval_ms: int) -> dict[str, Any]:
    reply = " ".join(f"{prefix}{i}" for i in range(tokens))
    script = _directive(reply=reply, latency_ms=latency_ms, token_interval_ms=interval_ms)
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": f"go {script}"}],
        "stream": True,
    }


def run_ttft(
    target: Target, requests: int, tokens: int, latency_ms: int, interval_ms: int
) -> dict[str, Any]:
    paths = {
        "emulator direct": (
            f"{target.emulator_url}/v1/chat/completions",
            {"authorization": "Bearer bench"},
        ),
        "llm-gateway": (f"{target.api_url}/v1/chat/completions", target.auth),
    }

    async def measure() -> dict[str, list[StreamResult]]:
        out: dict[str, list[StreamResult]] = {name: [] for name in paths}
        async with httpx.AsyncClient(timeout=120) as client:
            for i in range(requests + 3):
                # Interleaved, so both paths see the same machine state.
                for name, (url, headers) in paths.items():
                    # Each path's own words, so the emulator's records tell them apart.
                    words = f"{'g' if name == 'llm-gateway' else 'd'}{i}w"
                    result = await _stream(
                        client, url, headers, _body(words, tokens, latency_ms, interval_ms)
                    )
                    if i >= 3:  # warm-up
                        out[name].append(result)
        return out

    results = asyncio.run(measure())
    stages = _stages(target, results["llm-gateway"])
    summary: dict[str, Any] = {}
    rows = []
    for name, runs in results.items():
        ok = [r for r in runs if r.error is None]
        ttft = [r.ttft_ms for r in ok]
        gaps = [g for r in ok for g in r.gaps_ms]
        summary[name] = {
            "ttft_p50_ms": nearest_rank(ttft, 0.5),
            "ttft_p99_ms": nearest_rank(ttft, 0.99),
            "chunks_mean": statistics.mean(r.chunks for r in ok) if ok else 0,
            "gap_p50_ms": nearest_rank(gaps, 0.5),
            "errors": len(runs) - len(ok),
        }
        s = summary[name]
        rows.append(
            [
                name,
                f"{s['ttft_p50_ms']:.1f}",
                f"{s['ttft_p99_ms']:.1f}",
                f"{s['chunks_mean']:.1f}",
                f"{s['gap_p50_ms']:.1f}",
                str(s["errors"]),
            ]
        )
    direct, gateway = summary["emulator direct"], summary["llm-gateway"]
    added50 = gateway["ttft_p50_ms"] - direct["ttft_p50_ms"]
    added99 = gateway["ttft_p99_ms"] - direct["ttft_p99_ms"]
    ratio = gateway["chunks_mean"] / direct["chunks_mean"] if direct["chunks_mean"] else 0.0
    rows.append(
        ["added by the gateway", f"{added50:+.1f}", f"{added99:+.1f}", f"{ratio:.0%}", "", ""]
    )
    table(
        f"Time to first token, c=1, {requests} requests, first token after {latency_ms} ms, "
        f"{tokens} tokens {interval_ms} ms apart",
        ["path", "TTFT p50 ms", "TTFT p99 ms", "content chunks", "gap p50 ms", "errors"],
        rows,
    )
    met = (
        added50 <= ADDED_TTFT_P50_MS
        and added99 <= ADDED_TTFT_P99_MS
        and ratio >= CHUNK_RATIO_MIN
        and gateway["errors"] == 0
    )
    bar = (
        f"added TTFT p50 ≤ {ADDED_TTFT_P50_MS:g} ms, p99 ≤ {ADDED_TTFT_P99_MS:g} ms, "
        f"content chunks ≥ {CHUNK_RATIO_MIN:.0%} of direct"
    )
    table("verdict", ["bar", "result"], [[bar, verdict(met)]])
    return {
        "paths": summary,
        "stages_ms": stages,
        "added_p50_ms": added50,
        "added_p99_ms": added99,
        "chunk_ratio": ratio,
        "met": met,
    }


# Where a streamed request's time to first token goes, from timestamps the stack already
# keeps: the job record (created, claimed), the emulator's receipt of the provider call and
# the per-job stream's event ids (Redis stream ids are the append time in ms).
STAGES = (
    ("HTTP in -> job stored", "sent", "created"),
    ("queued -> claimed by a worker", "created", "started"),
    ("claimed -> provider call received", "started", "upstream"),
    ("provider call -> first token appended", "upstream", "appended"),
    ("first token appended -> client", "appended", "first"),
)


_WORDS = re.compile(r"\b(g\d+w)0\b")


def _stages(target: Target, runs: list[StreamResult]) -> dict[str, dict[str, float]]:
    emulator = EmulatorControl(target.emulator_url)
    received: dict[str, float] = {}
    for record in emulator.requests():
        found = _WORDS.search(json.dumps(record.get("body")))
        if found:
            received.setdefault(found.group(1), record["t"])
    samples: dict[str, list[float]] = {name: [] for name, _, _ in STAGES}
    with httpx.Client(base_url=target.api_url, headers=target.auth, timeout=30) as api:
        for run in runs:
            if run.error or not run.job_id:
                continue
            job = api.get(f"/v1/jobs/{run.job_id}").json()
            found = _WORDS.search(json.dumps(job["request"]))
            appended = _first_text_event_ms(api, run.job_id)
            marks = {
                "sent": run.sent_at,
                "created": _epoch(job["created_at"]),
                "started": _epoch(job["started_at"]),
                "upstream": received.get(found.group(1) if found else "", float("nan")),
                "appended": appended / 1000,
                "first": run.first_at,
            }
            for name, start, end in STAGES:
                samples[name].append((marks[end] - marks[start]) * 1000)
    rows, out = [], {}
    for name, values in samples.items():
        out[name] = {"p50": nearest_rank(values, 0.5), "p99": nearest_rank(values, 0.99)}
        rows.append([name, f"{out[name]['p50']:.1f}", f"{out[name]['p99']:.1f}"])
    table("Where the gateway's time to first token goes", ["stage", "p50 ms", "p99 ms"], rows)
    return out


def _epoch(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()


def _first_text_event_ms(api: httpx.Client, job_id: str) -> float:
    """The append time of the job stream's first text event (its id's milliseconds)."""
    fields: dict[str, str] = {}
    with api.stream("GET", f"/v1/jobs/{job_id}/stream") as response:
        for line in response.iter_lines():
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.strip()
                continue
            if fields.get("event") == "text" and "id" in fields:
                return float(fields["id"].split("-")[0])
            fields = {}
    return float("nan")


def _api_rss_kb(target: Target) -> int:
    if target.root_pid is None:
        return 0
    total = 0
    for pid in descendants(target.root_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if _role([a.decode(errors="replace") for a in argv]) != "api":
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def run_concurrent(
    target: Target, streams: int, tokens: int, latency_ms: int, interval_ms: int
) -> dict[str, Any]:
    url = f"{target.api_url}/v1/chat/completions"
    rss_before = _api_rss_kb(target)
    peak = [rss_before]

    async def sample_rss(stop: asyncio.Event) -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _api_rss_kb(target))
            await asyncio.sleep(0.5)

    async def measure() -> tuple[list[StreamResult], float]:
        limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams + 10)
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(stop))
        async with httpx.AsyncClient(timeout=600, limits=limits) as client:
            started = time.perf_counter()
            results = await asyncio.gather(
                *(
                    _stream(
                        client, url, target.auth, _body(f"s{i}w", tokens, latency_ms, interval_ms)
                    )
                    for i in range(streams)
                )
            )
            wall = time.perf_counter() - started
        stop.set()
        await sampler
        return list(results), wall

    results, wall = asyncio.run(measure())
    expected = [" ".join(f"s{i}w{j}" for j in range(tokens)) for i in range(streams)]
    complete = sum(
        1 for r, e in zip(results, expected, strict=True) if r.error is None and r.text == e
    )
    errors = sum(1 for r in results if r.error is not None)
    kinds = sorted({r.error for r in results if r.error})
    for kind in kinds[:5]:
        print(f"error: {kind}")
    wrong = streams - complete - errors
    rss_after = _api_rss_kb(target)
    ttft = [r.ttft_ms for r in results if r.error is None]
    row = [
        str(streams),
        f"{wall:.1f}",
        str(complete),
        str(wrong),
        str(errors),
        f"{nearest_rank(ttft, 0.5):.0f}",
        f"{nearest_rank(ttft, 0.99):.0f}",
        f"{rss_before / 1024:.0f}",
        f"{peak[0] / 1024:.0f}",
        f"{rss_after / 1024:.0f}",
    ]
    table(
        f"{streams} concurrent streams through one API process (first token after "
        f"{latency_ms} ms, {tokens} tokens {interval_ms} ms apart)",
        [
            "streams",
            "wall s",
            "exact",
            "merged/reordered",
            "errors",
            "TTFT p50 ms",
            "TTFT p99 ms",
            "API RSS MB before",
            "peak",
            "after",
        ],
        [row],
    )
    met = complete == streams
    table(
        "verdict",
        ["bar", "result"],
        [["every stream complete, none merged or reordered", verdict(met)]],
    )
    return {
        "streams": streams,
        "wall_s": wall,
        "complete": complete,
        "wrong": wrong,
        "errors": errors,
        "ttft_p50_ms": nearest_rank(ttft, 0.5),
        "ttft_p99_ms": nearest_rank(ttft, 0.99),
        "api_rss_mb": {
            "before": rss_before / 1024,
            "peak": peak[0] / 1024,
            "after": rss_after / 1024,
        },
        "met": met,
    }


@app.command()
def ttft(
    ctx: typer.Context,
    requests: Annotated[int, typer.Option(help="timed streams per path")] = 50,
    tokens: Annotated[int, typer.Option(help="reply length")] = 200,
    latency_ms: Annotated[int, typer.Option(help="emulator time to first token")] = 200,
    interval_ms: Annotated[int, typer.Option(help="emulator time between tokens")] = 20,
) -> None:
    """Added time to first token, c=1, and whether the pacing survives."""
    with open_stack(ctx) as target:
        save(
            "streaming_ttft",
            run_ttft(target, requests, tokens, latency_ms, interval_ms),
        )


@app.command()
def concurrent(
    ctx: typer.Context,
    streams: Annotated[int, typer.Option(help="concurrent streams")] = 500,
    tokens: Annotated[int, typer.Option(help="reply length")] = 20,
    latency_ms: Annotated[int, typer.Option(help="emulator time to first token")] = 1000,
    interval_ms: Annotated[int, typer.Option(help="emulator time between tokens")] = 50,
) -> None:
    """Many streams at once through one API process: all exact, and its memory."""
    with open_stack(ctx) as target:
        save(
            "streaming_concurrent",
            run_concurrent(target, streams, tokens, latency_ms, interval_ms),
        )


@app.command("all")
def run_all(ctx: typer.Context) -> None:
    """Both phases on one stack."""
    with open_stack(ctx) as target:
        first = run_ttft(target, 50, 200, 200, 20)
        second = run_concurrent(target, 500, 20, 1000, 50)
        save("streaming", {"ttft": first, "concurrent": second})


if __name__ == "__main__":
    app()
