"""Routing micro-benchmark: the cost of one routing decision, in microseconds.

Each case times ``ModelRouter.route`` (and, in the last rows, the capability check the API
runs next) one call at a time with ``perf_counter_ns``, over the shipped
``config/providers.yaml`` with a live-state snapshot for every instance, as the API has it.
Prints p50 / p99 / max per case. No services needed.

    .venv/bin/python bench/routing_bench.py [--calls 200000]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import percentile  # noqa: E402
from providers.config import load_providers  # noqa: E402
from providers.registry import check_request  # noqa: E402
from providers.router import InstanceState, ModelRouter  # noqa: E402
from providers.types import ChatRequest, Message, TextPart, ToolDefinition  # noqa: E402


def timed(call: Callable[[], object], calls: int) -> list[float]:
    """Microseconds per call, one sample per call; GC paused so it does not land on one."""
    for _ in range(min(calls, 10_000)):  # warm caches
        call()
    samples = [0.0] * calls
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for i in range(calls):
            start = clock()
            call()
            samples[i] = (clock() - start) / 1000
    finally:
        gc.enable()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()

    config = load_providers(ROOT / "config" / "providers.yaml", {})
    router = ModelRouter(config, rng=random.Random(1))
    router.set_discovered("ollama", ["llama3.2", "qwen2.5:7b", "mistral:7b"])
    healthy = {name: InstanceState() for name in config.instances}
    spill = {**healthy, "anthropic": InstanceState(headroom=False)}
    down = {**spill, "bedrock-us": InstanceState(disabled=True)}
    request = ChatRequest(
        model="claude-sonnet-4-5",
        messages=(Message("system", (TextPart("Be brief."),)), Message("user", (TextPart("hi"),))),
        tools=(ToolDefinition("lookup", "Look something up", {"type": "object"}),),
    )
    counter = iter(range(10**9))

    def unseen_pattern() -> object:
        # A name never routed before: matched against every pattern (past the first 4,096
        # names the router stops caching, so this stays the uncached path).
        return router.route(f"gpt-5-variant-{next(counter)}", states=healthy)

    def route_and_check() -> object:
        # As the API submits: the check runs inside the decision (instances that cannot
        # take the request are passed over).
        return router.route(
            "claude-sonnet-4-5", states=spill, accepts=lambda inst: check_request(inst, request)
        )

    def case(model: str, states: dict[str, InstanceState], **hint: str) -> Callable[[], object]:
        return lambda: router.route(model, states=states, **hint)  # type: ignore[arg-type]

    claude = "claude-sonnet-4-5"
    cases: list[tuple[str, Callable[[], object]]] = [
        ("exact, one instance (gpt-4.1-mini)", case("gpt-4.1-mini", healthy)),
        ("exact, 3 instances, first has headroom", case(claude, healthy)),
        ("exact, 3 instances, weighted spill-over", case(claude, spill)),
        ("exact, one disabled, one without headroom", case(claude, down)),
        ("pattern (gemini-*), cached", case("gemini-2.0-flash-lite", healthy)),
        ("pattern, first sight of the name", unseen_pattern),
        ("discovered Ollama model", case("qwen2.5:7b", healthy)),
        ("provider-type hint (bedrock)", case(claude, healthy, hint="bedrock")),
        ("route + capability/format check (Bedrock)", route_and_check),
    ]
    table = Table(title=f"routing decisions, {args.calls:,} calls each (microseconds)")
    for column in ("case", "p50", "p99", "max"):
        table.add_column(column, justify="right" if column != "case" else "left")
    for label, call in cases:
        samples = timed(call, args.calls)
        table.add_row(
            label,
            f"{percentile(samples, 50):.2f}",
            f"{percentile(samples, 99):.2f}",
            f"{max(samples):.1f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
