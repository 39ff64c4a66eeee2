"""Tracing overhead on the sync path: ``POST /v1/chat/completions`` against the emulator at
0 ms, at concurrency 1 and 10, with the gateway's observability off, with the worker's
metrics port on, and with metrics plus OpenTelemetry tracing, every trace or one in twenty
exported to a local OTLP/HTTP receiver that accepts and drops them. Prints a table and writes
``bench/results/tracing.json``.

    .venv/bin/python bench/tracing_bench.py [--duration 10] [--warmup 3] [--rounds 2]

Each configuration is a private stack of its own (``llm-gateway up``), run one after the
other; every round runs them all, in the reverse order of the round before, so a machine
getting busier or quieter does not always favour the same one. The worker records its
metrics either way (they cannot be turned off); "metrics" serves them on a port, so its
difference from "off" is the machine's noise: read the tracing row against it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import typer
from measure import Shape, closed_loop
from report import save, table
from stack import BenchStack, free_ports, interruptible

app = typer.Typer(add_completion=False, help=__doc__)

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}]}
CONFIGS = ("off", "metrics", "metrics+tracing", "metrics+tracing 5%")


class _Sink:
    """An OTLP/HTTP endpoint that answers every export with an empty success."""

    def __init__(self) -> None:
        self.exports = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                sink.exports += 1
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@contextmanager
def _environment(config: str, sink: _Sink) -> Iterator[None]:
    """The stack's environment for ``config`` (``BenchStack`` copies ``os.environ``)."""
    names = (
        "LLM_GATEWAY_WORKER_METRICS_PORT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_TRACES_EXPORTER",
    )
    saved = {name: os.environ.pop(name, None) for name in names}
    if config != "off":
        os.environ["LLM_GATEWAY_WORKER_METRICS_PORT"] = str(free_ports(1)[0])
    if config == "metrics+tracing":
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
        os.environ["OTEL_TRACES_SAMPLER"] = "always_on"
    if config == "metrics+tracing 5%":
        # What production would run: one trace in twenty, decided once at the API.
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
        os.environ["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
        os.environ["OTEL_TRACES_SAMPLER_ARG"] = "0.05"
    try:
        yield
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


def _measure(config: str, sink: _Sink, shape: Shape, clients: tuple[int, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with _environment(config, sink):
        stack = BenchStack(worker_concurrency=16)
        try:
            target = stack.start()
            for c in clients:
                result = asyncio.run(
                    closed_loop(
                        target.api_url,
                        target.auth,
                        "/v1/chat/completions",
                        BODY,
                        200,
                        Shape(c, shape.warmup_s, shape.duration_s),
                    )
                )
                out[str(c)] = result.as_dict()
        finally:
            stack.stop()
    return out


@app.command()
def main(
    duration: Annotated[float, typer.Option(help="Measured seconds per row.")] = 10.0,
    warmup: Annotated[float, typer.Option(help="Warm-up seconds per row.")] = 3.0,
    rounds: Annotated[int, typer.Option(help="Runs of every configuration.")] = 2,
) -> None:
    clients = (1, 10)
    sink = _Sink()
    results: dict[str, list[dict[str, Any]]] = {config: [] for config in CONFIGS}
    with interruptible():
        for r in range(rounds):
            for config in CONFIGS if r % 2 == 0 else reversed(CONFIGS):
                before = sink.exports
                run = _measure(config, sink, Shape(0, warmup, duration), clients)
                run["otlp_exports"] = sink.exports - before
                results[config].append(run)
    rows = []
    for c in clients:
        for r in range(rounds):
            base = results["off"][r][str(c)]["latency_ms"]["p50"]
            for config in CONFIGS:
                run = results[config][r][str(c)]
                ms = run["latency_ms"]
                rows.append(
                    [
                        f"c={c}",
                        str(r + 1),
                        config,
                        f"{ms['p50']:.2f}",
                        f"{ms['p99']:.2f}",
                        f"{ms['p50'] - base:+.2f}",
                        f"{run['rate_per_s']:.0f}",
                        str(run["errors"]),
                    ]
                )
    table(
        "POST /v1/chat/completions, emulator 0 ms",
        ["clients", "round", "observability", "p50 ms", "p99 ms", "Δp50 vs off", "req/s", "errors"],
        rows,
        left=3,
    )
    exports = [run["otlp_exports"] for run in results["metrics+tracing"]]
    print(f"OTLP exports received with tracing on, per round: {exports}")
    save("tracing", {"duration_s": duration, "warmup_s": warmup, "results": results})


if __name__ == "__main__":
    app()
