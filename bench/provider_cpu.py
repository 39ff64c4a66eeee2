"""The worker's CPU per OpenAI chat call: the adapter's ``complete`` (a raw post of the
wire body it already built) against the SDK's ``chat.completions.with_raw_response.create``
(what it called before, which first walks the body against the SDK's typed parameters).
Both go through the same client to the same emulator, in alternating rounds; CPU is this
process's own (``time.process_time``), so the emulator's work and the machine's other load
count for neither. Prints a table.

    python bench/provider_cpu.py --emulator-url http://127.0.0.1:8090   # a running emulator
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from report import table

from providers.config import InstanceConfig
from providers.openai_chat import OpenAIChatProvider
from providers.openai_format import chat_request_from_openai

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(
    emulator_url: Annotated[str, typer.Option(help="a running emulator")],
    calls: Annotated[int, typer.Option(help="calls per round")] = 100,
    rounds: Annotated[int, typer.Option(help="rounds per path")] = 10,
) -> None:
    config = InstanceConfig(
        name="bench", type="openai", base_url=f"{emulator_url}/v1", models=["gpt-4o-mini"]
    )
    provider = OpenAIChatProvider(config, {"api_key": "bench"})
    request = chat_request_from_openai(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    )
    raw_post = provider._post_chat

    def sdk_create(body: dict[str, Any]) -> Any:
        return provider._create(**body)

    paths: dict[str, Callable[[dict[str, Any]], Any]] = {
        "SDK create (before)": sdk_create,
        "raw post (now)": raw_post,
    }
    for _ in range(50):  # warm-up: connections, lazy imports
        provider.complete(request)
    per_call: dict[str, list[float]] = {name: [] for name in paths}
    for round_ in range(rounds):
        order = list(paths) if round_ % 2 == 0 else list(reversed(paths))
        for name in order:
            provider._post_chat = paths[name]  # type: ignore[method-assign]
            started = time.process_time()
            for _ in range(calls):
                provider.complete(request)
            per_call[name].append((time.process_time() - started) / calls * 1000)
    rows = [
        (name, f"{statistics.median(v):.3f}", f"{min(v):.3f}", f"{max(v):.3f}")
        for name, v in per_call.items()
    ]
    title = f"worker CPU per OpenAI chat call (ms), {rounds} rounds of {calls} calls"
    table(title, ("path", "median", "min", "max"), rows, left=1)


if __name__ == "__main__":
    app()
