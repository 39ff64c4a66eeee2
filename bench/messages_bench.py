"""Messages API benchmark: the latency ``POST /v1/messages`` (Anthropic's format) adds over
calling the emulator's Anthropic ``/v1/messages`` directly, at concurrency 1. Prints a
table and writes ``bench/results/messages.json``.

    python bench/messages_bench.py latency                 # start a private stack
    python bench/messages_bench.py latency --requests 500

Each row runs direct and through the gateway, interleaved request by request so both
paths see the same machine; the same httpx client reads both, so the difference is what
the gateway adds: the translation both ways, the job, the queue, the worker's call through
the Anthropic SDK, the record (or the job stream, streamed), and the answer. A Claude model
pinned to the ``anthropic`` instance, so both paths end at the same emulator endpoint; the
chat-completions row is the reference measured in the same minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import typer
from report import save, table
from stack import (
    Target,
    nearest_rank,
    open_stack,
    stack_callback,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

WARMUP = 20
MODEL = "claude-sonnet-4-5"
# The emulator takes any non-empty key; Anthropic's SDKs send theirs as x-api-key.
DIRECT_HEADERS = {"x-api-key": "bench", "anthropic-version": "2023-06-01"}


app.callback()(stack_callback)


def _message(i: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 64,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": f"ping {i}"}],
    }


def _streamed(i: int) -> dict[str, Any]:
    return {**_message(i), "stream": True}


def _count(i: int) -> dict[str, Any]:
    body = _message(i)
    del body["max_tokens"]
    return body


def _chat(i: int) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"ping {i}"}]}


def _timed(client: httpx.Client, url: str, headers: dict[str, str], body: Any) -> float:
    """Milliseconds until the whole answer is read (a stream: its last event)."""
    started = time.perf_counter()
    with client.stream("POST", url, json=body, headers=headers) as response:
        content = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    if body.get("stream") and b"message_stop" not in content:
        raise RuntimeError("a stream without its end")
    return elapsed


Row = tuple[str, str, Callable[[int], dict[str, Any]], str]


def run_latency(target: Target, requests: int) -> dict[str, Any]:
    # (row, path, body, instance pinned on the gateway path)
    rows_spec: list[Row] = [
        ("chat completion (reference)", "/v1/chat/completions", _chat, "openai"),
        ("message", "/v1/messages", _message, "anthropic"),
        ("message, streamed", "/v1/messages", _streamed, "anthropic"),
        ("count_tokens (provider)", "/v1/messages/count_tokens", _count, "anthropic"),
    ]
    rows, results = [], []
    with httpx.Client(timeout=60) as client:
        for row, path, make_body, instance in rows_spec:
            times: dict[str, list[float]] = {"direct": [], "gateway": []}
            messages = path.startswith("/v1/messages")
            direct_headers = DIRECT_HEADERS if messages else {"authorization": "Bearer bench"}
            direct = (f"{target.emulator_url}{path}", direct_headers)
            gateway = (f"{target.api_url}{path}", target.auth)
            for i in range(WARMUP + requests):
                body = make_body(i)
                for name, (url, headers) in (("direct", direct), ("gateway", gateway)):
                    sent = body if name == "direct" else {**body, "provider": instance}
                    elapsed = _timed(client, url, headers, sent)
                    if i >= WARMUP:
                        times[name].append(elapsed)
            stats = {
                name: {"p50": nearest_rank(values, 0.5), "p99": nearest_rank(values, 0.99)}
                for name, values in times.items()
            }
            added = {q: stats["gateway"][q] - stats["direct"][q] for q in ("p50", "p99")}
            ratio = stats["gateway"]["p50"] / stats["direct"]["p50"]
            rows.append(
                [
                    row,
                    f"{stats['direct']['p50']:.2f}",
                    f"{stats['direct']['p99']:.2f}",
                    f"{stats['gateway']['p50']:.2f}",
                    f"{stats['gateway']['p99']:.2f}",
                    f"{added['p50']:+.2f}",
                    f"{added['p99']:+.2f}",
                    f"{ratio:.1f}x",
                ]
            )
            results.append({"row": row, "paths": stats, "added": added, "ratio_p50": ratio})
    table(
        f"POST /v1/messages vs the emulator's /v1/messages directly, c=1, emulator 0 ms, "
        f"{requests} requests per path after {WARMUP} warm-up",
        [
            "row",
            "direct p50 ms",
            "direct p99 ms",
            "gateway p50 ms",
            "gateway p99 ms",
            "added p50",
            "added p99",
            "p50 ratio",
        ],
        rows,
    )
    return {"rows": results}


@app.command()
def latency(
    ctx: typer.Context,
    requests: Annotated[int, typer.Option(help="timed requests per path and row")] = 300,
) -> None:
    """Added latency of /v1/messages (plain, streamed) and count_tokens, c=1."""
    with open_stack(ctx) as target:
        save("messages", run_latency(target, requests))


if __name__ == "__main__":
    app()
