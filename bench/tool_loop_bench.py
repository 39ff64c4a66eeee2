"""Tool-loop benchmarks: what a server-side tool loop costs through the gateway. Each
command prints a table and writes ``bench/results/tool_loop_<name>.json``.

    python bench/tool_loop_bench.py all             # start a private stack, run everything
    python bench/tool_loop_bench.py overhead --requests 500
    python bench/tool_loop_bench.py --api-url http://127.0.0.1:8080 \\
        --emulator-url http://127.0.0.1:8090 --downstream-url http://127.0.0.1:8081 parallel

Every comparison is measured in the same run: the gateway against the same wire calls made
by the bench itself (emulator turn 0, the stand-in, emulator turn 1). See bench/README.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from measure import Shape
from report import save, table
from stack import StackError, StackOptions, Target, interruptible, running_target
from tool_loop_phases import run_concurrent, run_overhead, run_parallel

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Tool-loop benchmarks: loop overhead, parallel tool calls, concurrent loops."
    " See bench/README.md.",
)


@app.callback()
def main(
    ctx: typer.Context,
    api_url: Annotated[str | None, typer.Option(help="use this running API")] = None,
    emulator_url: Annotated[str | None, typer.Option(help="and its emulator")] = None,
    downstream_url: Annotated[
        str | None, typer.Option(help="and its tools' stand-in (llm-gateway downstream)")
    ] = None,
    api_key: Annotated[str, typer.Option(help="API key for --api-url")] = "dev-key",
    worker_concurrency: Annotated[
        int, typer.Option(help="worker threads per queue of a started stack (≥ clients)")
    ] = 128,
    keep_state: Annotated[bool, typer.Option(help="keep a started stack's log dir")] = False,
    worker_processes: Annotated[
        int, typer.Option(min=1, help="worker processes per queue of a started stack")
    ] = 1,
) -> None:
    """Starts a private stack per run unless --api-url/--emulator-url/--downstream-url
    point at one."""
    ctx.obj = StackOptions(
        api_url,
        emulator_url,
        api_key,
        worker_concurrency,
        keep_state,
        worker_processes,
        downstream_url,
    )


@contextmanager
def open_stack(ctx: typer.Context) -> Iterator[Target]:
    with interruptible(), running_target(ctx.obj) as target:
        if not target.downstream_url:
            raise StackError("--downstream-url is needed with --api-url (the tools' stand-in)")
        yield target


Requests = Annotated[int, typer.Option(min=1, help="timed loops per path")]
Warmup = Annotated[int, typer.Option(min=0, help="untimed loops per path first")]
ToolLatency = Annotated[int, typer.Option(min=0, help="stand-in latency per tool call, ms")]
ModelLatency = Annotated[int, typer.Option(min=1, help="emulator latency per model turn, ms")]
Clients = Annotated[int, typer.Option(min=1, help="concurrent closed-loop clients")]
Seconds = Annotated[float, typer.Option(min=1, help="measured seconds, after the warm-up")]


@app.command()
def overhead(ctx: typer.Context, requests: Requests = 200, warmup: Warmup = 20) -> None:
    """(1) A one-round loop via the gateway vs the same 3 calls made directly, concurrency 1."""
    with open_stack(ctx) as target:
        run_overhead(target, requests, warmup)


@app.command()
def parallel(
    ctx: typer.Context, requests: Requests = 20, warmup: Warmup = 2, latency_ms: ToolLatency = 300
) -> None:
    """(2) Four tool calls in one turn against a slow stand-in: at once, or one by one?"""
    with open_stack(ctx) as target:
        run_parallel(target, requests, warmup, latency_ms)


@app.command()
def concurrent(
    ctx: typer.Context,
    clients: Clients = 20,
    duration: Seconds = 20,
    warmup: Annotated[float, typer.Option(min=0, help="seconds of load before measuring")] = 3,
    latency_ms: ModelLatency = 200,
) -> None:
    """(3) N clients running one-round loops back to back: loops/s vs N / (2 x latency)."""
    with open_stack(ctx) as target:
        run_concurrent(target, Shape(clients, warmup, duration), latency_ms)


@app.command(name="all")
def run_all(
    ctx: typer.Context,
    requests: Requests = 200,
    parallel_requests: Annotated[int, typer.Option(min=1, help="timed loops of (2)")] = 20,
    duration: Seconds = 20,
) -> None:
    """(1), (2) and (3) on one stack, then a summary."""
    with open_stack(ctx) as target:
        ovh = run_overhead(target, requests, 20)
        par = run_parallel(target, parallel_requests, 2, 300)
        con = run_concurrent(target, Shape(20, 3, duration), 200)
    rows = summary_rows(ovh, par, con)
    table("tool loops: summary", ("measure", "result"), rows, left=2)
    summary = [{"measure": m, "result": r} for m, r in rows]
    save(
        "tool_loop_summary",
        {"summary": summary, "overhead": ovh, "parallel": par, "concurrent": con},
    )


def summary_rows(
    ovh: dict[str, Any], par: dict[str, Any], con: dict[str, Any]
) -> list[tuple[str, str]]:
    loop, plain, per_round = ovh["loop"], ovh["plain"], ovh["per_round_ms"]
    gw = par["gateway_ms"]
    return [
        (
            "one-round loop: the gateway adds (p50)",
            f"{loop['added_ms']['p50']:.2f} ms ({ovh['ratio_p50']['loop']:.2f}x the direct"
            f" {loop['direct_ms']['p50']:.2f} ms)",
        ),
        (
            "plain completion: the gateway adds (p50)",
            f"{plain['added_ms']['p50']:.2f} ms ({ovh['ratio_p50']['plain']:.2f}x the direct"
            f" {plain['direct_ms']['p50']:.2f} ms)",
        ),
        ("one tool round (loop added - plain added, p50)", f"{per_round['p50']:.2f} ms"),
        (
            f"{len(par['tools'])} calls at once, {par['tool_latency_ms']} ms each (p50)",
            f"{gw['p50']:.1f} ms (ideal {par['ideal_ms']:.0f}, +{par['over_ideal_p50_ms']:.1f});"
            f" {par['speedup_p50']:.2f}x faster than {par['sequential_ms']:.0f} sequential",
        ),
        (
            f"{con['clients']} concurrent loops, {con['model_latency_ms']} ms per turn",
            f"{con['rate_per_s']:.1f} loops/s = {con['ratio']:.1%} of {con['ideal_per_s']:.0f},"
            f" p50 {con['latency_ms']['p50']:.0f} ms, {con['errors']} errors",
        ),
    ]


if __name__ == "__main__":
    app()
