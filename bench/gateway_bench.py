"""Gateway benchmarks: the sync endpoint's added latency, its throughput under load, and the
async accept rate. Each prints tables and writes ``bench/results/<name>.json``.

    python bench/gateway_bench.py all            # start a private stack, run everything
    python bench/gateway_bench.py latency --requests 500
    python bench/gateway_bench.py --api-url http://127.0.0.1:8080 \\
        --emulator-url http://127.0.0.1:8090 throughput

Numbers are comparable only within one run on one machine, so each phase measures its own
baseline (the emulator called directly) beside the gateway. See bench/README.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from measure import Shape
from phases import (
    ADDED_P50_TARGET_MS,
    ADDED_P99_TARGET_MS,
    MODELS,
    THROUGHPUT_P99_TARGET_MS,
    THROUGHPUT_TARGET,
    run_accept,
    run_latency,
    run_throughput,
)
from report import save, table, verdict
from stack import StackOptions, Target, interruptible, running_target

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Gateway benchmarks: added latency, sync throughput, accept rate. See bench/README.md.",
)


@app.callback()
def main(
    ctx: typer.Context,
    api_url: Annotated[str | None, typer.Option(help="use this running API")] = None,
    emulator_url: Annotated[str | None, typer.Option(help="and its emulator")] = None,
    api_key: Annotated[str, typer.Option(help="API key for --api-url")] = "dev-key",
    worker_concurrency: Annotated[
        int, typer.Option(help="worker threads per queue of a started stack (≥ clients)")
    ] = 128,
    keep_state: Annotated[bool, typer.Option(help="keep a started stack's log dir")] = False,
    worker_processes: Annotated[
        int, typer.Option(min=1, help="worker processes per queue of a started stack")
    ] = 1,
) -> None:
    """Starts a private stack per run unless --api-url/--emulator-url point at one."""
    ctx.obj = StackOptions(
        api_url, emulator_url, api_key, worker_concurrency, keep_state, worker_processes
    )


@contextmanager
def open_stack(ctx: typer.Context) -> Iterator[Target]:
    with interruptible(), running_target(ctx.obj) as target:
        yield target


Requests = Annotated[int, typer.Option(help="timed requests per path and model")]
Clients = Annotated[int, typer.Option(help="concurrent closed-loop clients")]
Seconds = Annotated[float, typer.Option(help="measured seconds, after the warm-up")]
Warmup = Annotated[float, typer.Option(help="seconds of load before measuring")]
Baseline = Annotated[bool, typer.Option(help="also load the emulator directly, for comparison")]


@app.command()
def latency(
    ctx: typer.Context,
    requests: Requests = 300,
    warmup: Annotated[int, typer.Option(help="untimed requests per path first")] = 20,
    model: Annotated[list[str] | None, typer.Option(help="repeatable; default: both")] = None,
) -> None:
    """(a) Added latency of POST /v1/chat/completions over the emulator, concurrency 1."""
    with open_stack(ctx) as target:
        run_latency(target, model or list(MODELS), requests, warmup)


@app.command()
def throughput(
    ctx: typer.Context,
    clients: Clients = 100,
    latency_ms: Annotated[int, typer.Option(help="emulator latency")] = 500,
    duration: Seconds = 30,
    warmup: Warmup = 5,
    baseline: Baseline = True,
) -> None:
    """(b) Sync req/s with N clients against a slow provider, vs the ideal N / latency."""
    with open_stack(ctx) as target:
        run_throughput(target, Shape(clients, warmup, duration), latency_ms, baseline)


@app.command()
def accept(
    ctx: typer.Context, clients: Clients = 50, duration: Seconds = 10, warmup: Warmup = 2
) -> None:
    """(c) POST /v1/jobs accept rate (202/s) and latency; workers run the jobs meanwhile."""
    with open_stack(ctx) as target:
        run_accept(target, Shape(clients, warmup, duration))


@app.command(name="all")
def run_all(
    ctx: typer.Context, requests: Requests = 300, duration: Seconds = 30, baseline: Baseline = True
) -> None:
    """(a), (b) and (c) on one stack, then a summary against the targets."""
    with open_stack(ctx) as target:
        lat = run_latency(target, list(MODELS), requests, 20)
        thr = run_throughput(target, Shape(100, 5, duration), 500, baseline)
        acc = run_accept(target, Shape(50, 2, 10))
    rows = summary_rows(lat, thr, acc)
    table(
        "summary",
        ("check", "result", "target", "status"),
        [(c, r, t, "info" if met is None else verdict(met)) for c, r, t, met in rows],
    )
    summary = [{"check": c, "result": r, "target": t, "met": met} for c, r, t, met in rows]
    save("summary", {"summary": summary, "latency": lat, "throughput": thr, "accept": acc})


def summary_rows(
    lat: dict[str, Any], thr: dict[str, Any], acc: dict[str, Any]
) -> list[tuple[str, str, str, bool | None]]:
    """(check, result, target, met); met is None for numbers without a target."""
    rows: list[tuple[str, str, str, bool | None]] = [
        (
            f"added latency p50 ({model})",
            f"{res['added_ms']['p50']:.2f} ms (p99 {res['added_ms']['p99']:.2f} ms)",
            f"≤ {ADDED_P50_TARGET_MS:g} ms (p99 ≤ {ADDED_P99_TARGET_MS:g})",
            res["met"],
        )
        for model, res in lat["models"].items()
    ]
    direct = thr["direct"]
    rows += [
        (
            "sync throughput, 100 clients, 500 ms",
            f"{thr['rate_per_s']:.1f} req/s = {thr['ratio']:.1%} of {thr['ideal_per_s']:.0f}"
            + (f" (direct: {direct['rate_per_s']:.1f})" if direct else ""),
            f"≥ {THROUGHPUT_TARGET:.0%}, p99 ≤ {THROUGHPUT_P99_TARGET_MS:g} ms",
            thr["met"],
        ),
        ("sync throughput errors", str(thr["errors"]), "0", thr["errors"] == 0),
        (
            "accept rate, 50 clients",
            f"{acc['rate_per_s']:.1f} /s, p50 {acc['latency_ms']['p50']:.1f} ms,"
            f" p99 {acc['latency_ms']['p99']:.1f} ms",
            "—",
            None,
        ),
        ("accept errors", str(acc["errors"]), "0", acc["errors"] == 0),
    ]
    return rows


if __name__ == "__main__":
    app()
