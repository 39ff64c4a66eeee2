"""The worker's CPU per OpenAI chat call, by how the call is sent: the adapter's wire
(urllib3, ``providers/openai_wire.py``) against the OpenAI SDK (its typed ``create``, and
its raw ``post`` of the finished wire body, which the adapter used before) and a plain httpx
post. Each path sends the same body to the same emulator and decodes the reply to a dict, in
alternating rounds; CPU is this process's own (``time.process_time``), so the emulator's
work and the machine's other load count for neither. Prints a table.

    python bench/provider_cpu.py --emulator-url http://127.0.0.1:8090   # a running emulator
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import openai
import orjson
import typer
from measure import cpu_per_call
from openai._constants import RAW_RESPONSE_HEADER
from openai.types.chat import ChatCompletion
from report import table

from providers.openai_format import chat_request_from_openai, chat_request_to_openai
from providers.openai_wire import OpenAIWire

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(
    emulator_url: Annotated[str, typer.Option(help="a running emulator")],
    calls: Annotated[int, typer.Option(help="calls per round")] = 100,
    rounds: Annotated[int, typer.Option(help="rounds per path")] = 10,
) -> None:
    base_url, key = f"{emulator_url}/v1", "bench"
    request = chat_request_from_openai(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    )
    body = chat_request_to_openai(request, max_tokens_field="max_completion_tokens")
    sdk = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)
    plain = httpx.Client(timeout=30)
    wire = OpenAIWire(base_url, timeout=30, provider="bench", secret=key)
    auth = {"Authorization": f"Bearer {key}"}
    url = f"{base_url}/chat/completions"

    def sdk_create() -> Any:
        raw = sdk.chat.completions.with_raw_response.create(**body)
        return orjson.loads(raw.http_response.content)

    def sdk_post() -> Any:
        raw = sdk.post(
            "/chat/completions",
            body=body,
            options={"headers": {RAW_RESPONSE_HEADER: "true"}},
            cast_to=ChatCompletion,
        )
        return orjson.loads(raw.http_response.content)

    def httpx_post() -> Any:
        headers = {**auth, "Content-Type": "application/json"}
        return orjson.loads(plain.post(url, content=orjson.dumps(body), headers=headers).content)

    paths: dict[str, Callable[[], Any]] = {
        "SDK with_raw_response.create": sdk_create,
        "SDK post of the wire body (before)": sdk_post,
        "plain httpx post": httpx_post,
        "urllib3 wire (now)": lambda: wire.post(url, body, auth),
    }
    per_call = cpu_per_call(paths, calls, rounds, warmup=50)
    rows = [
        (name, *(f"{f(v) * 1000:.3f}" for f in (statistics.median, min, max)))
        for name, v in per_call.items()
    ]
    title = f"worker CPU per OpenAI chat call (ms), {rounds} rounds of {calls} calls"
    table(title, ("path", "median", "min", "max"), rows, left=1)


if __name__ == "__main__":
    app()
