"""Embeddings benchmark: the latency ``POST /v1/embeddings`` adds over calling the emulator's
OpenAI embeddings endpoint directly, at concurrency 1. Prints a table and writes
``bench/results/embeddings.json``.

    python bench/embeddings_bench.py latency                 # start a private stack
    python bench/embeddings_bench.py latency --requests 500

Each shape (texts per request, dimensions, encoding) runs direct and through the gateway,
interleaved request by request so both paths see the same machine; the same httpx client
reads both, so the difference is what the gateway adds: the job, the queue, the worker's
call through the OpenAI SDK, the record, and the answer (the vectors pass through Redis).
"""

from __future__ import annotations

import time
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
MODEL = "text-embedding-3-small"
# (texts, dimensions, encoding): one short text at the model's 1,536 dimensions, a batch
# of 16 (about 0.5 MB of JSON floats each way through the gateway), and the same batch as
# base64, which is how the OpenAI SDK asks by default.
SHAPES: list[tuple[int, int | None, str]] = [
    (1, None, "float"),
    (16, None, "float"),
    (16, None, "base64"),
]


app.callback()(stack_callback)


def _body(i: int, texts: int, dimensions: int | None, encoding: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "input": [f"request {i} text {j}: the quick brown fox" for j in range(texts)],
        "encoding_format": encoding,
    }
    if dimensions is not None:
        body["dimensions"] = dimensions
    return body


def _timed(client: httpx.Client, url: str, headers: dict[str, str], body: Any) -> float:
    started = time.perf_counter()
    response = client.post(url, json=body, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    answer = response.json()
    if "input" in body and len(answer["data"]) != len(body["input"]):
        raise RuntimeError("a short answer")
    return elapsed


def _chat(i: int) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"ping {i}"}]}


def run_latency(target: Target, requests: int) -> dict[str, Any]:
    bench_key = {"authorization": "Bearer bench"}
    rows, results = [], []
    # The chat row is the reference: what the same stack adds to a short chat completion
    # in the same minutes (this machine's load moves every figure).
    shapes: list[tuple[str, str, Any]] = [
        ("chat completion (reference)", "/v1/chat/completions", lambda i: _chat(i))
    ]
    for texts, dimensions, encoding in SHAPES:
        shape = f"{texts} x {dimensions or 1536} dims, {encoding}"
        shapes.append(
            (
                shape,
                "/v1/embeddings",
                lambda i, t=texts, d=dimensions, e=encoding: _body(i, t, d, e),
            )
        )
    with httpx.Client(timeout=60) as client:
        for shape, path, make_body in shapes:
            times: dict[str, list[float]] = {"direct": [], "gateway": []}
            direct = (f"{target.emulator_url}{path}", bench_key)
            # Pinned to the openai instance: the emulator's OpenAI endpoint on both paths.
            gateway = (f"{target.api_url}{path}", target.auth)
            for i in range(WARMUP + requests):
                body = make_body(i)
                for name, (url, headers) in (("direct", direct), ("gateway", gateway)):
                    sent = body if name == "direct" else {**body, "provider": "openai"}
                    elapsed = _timed(client, url, headers, sent)
                    if i >= WARMUP:
                        times[name].append(elapsed)
            stats = {
                name: {"p50": nearest_rank(values, 0.5), "p99": nearest_rank(values, 0.99)}
                for name, values in times.items()
            }
            added = {q: stats["gateway"][q] - stats["direct"][q] for q in ("p50", "p99")}
            rows.append(
                [
                    shape,
                    f"{stats['direct']['p50']:.2f}",
                    f"{stats['direct']['p99']:.2f}",
                    f"{stats['gateway']['p50']:.2f}",
                    f"{stats['gateway']['p99']:.2f}",
                    f"{added['p50']:+.2f}",
                    f"{added['p99']:+.2f}",
                ]
            )
            results.append({"shape": shape, "paths": stats, "added": added})
    table(
        f"POST /v1/embeddings vs the emulator directly, c=1, emulator 0 ms, {requests} "
        f"requests per path after {WARMUP} warm-up",
        [
            "shape",
            "direct p50 ms",
            "direct p99 ms",
            "gateway p50 ms",
            "gateway p99 ms",
            "added p50",
            "added p99",
        ],
        rows,
    )
    return {"shapes": results}


@app.command()
def latency(
    ctx: typer.Context,
    requests: Annotated[int, typer.Option(help="timed requests per path and shape")] = 300,
) -> None:
    """Added latency of /v1/embeddings, c=1, for a single text and a batch of 16."""
    with open_stack(ctx) as target:
        save("embeddings", run_latency(target, requests))


if __name__ == "__main__":
    app()
