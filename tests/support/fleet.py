"""What the per-vendor stack tests share: the fleet's vendors (``FLEET_VENDORS``, which
``tests/providers/test_stack_all_vendors.py`` runs the same checks over), the weather tool
and its two-turn round trip through ``/v1/chat/completions``. Each vendor's file then checks
its own wire format."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from emulator import directive
from tests.conftest import AZURE_SECRET, BEDROCK_SECRET, WATSONX_SECRET
from tests.support.processes import Stack

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

Chat = Callable[..., httpx.Response]
"""``chat(*messages, **fields)``: one request to ``/v1/chat/completions``."""


def weather_round_trip(
    chat: Chat, tool: dict[str, Any] = WEATHER_TOOL, **first_fields: Any
) -> dict[str, Any]:
    """Ask for Paris's weather (the emulated model calls ``get_weather``), answer the call
    with "18C and sunny", and check the model's final answer. Returns the tool call; the
    emulator recorded the two requests in order."""
    text = "weather? " + directive(
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]
    )
    question = {"role": "user", "content": text}
    first = chat(question, tools=[tool], **first_fields)
    assert first.status_code == 200, first.text
    choice = first.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}

    result = {"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"}
    second = chat(question, choice["message"], result, tools=[tool])
    assert second.status_code == 200, second.text
    answer = second.json()["choices"][0]
    assert (answer["finish_reason"], answer["message"]["content"]) == (
        "stop",
        "tool results: 18C and sunny",
    )
    call_made: dict[str, Any] = call
    return call_made


@dataclass(frozen=True)
class FleetVendor:
    """One vendor's shipped instance in ``config/providers.yaml``, served by the fleet
    worker against the emulator."""

    instance: str
    protocol: str  # the emulator's name for the vendor's wire protocol
    # Models only this instance serves (given ``pin``); requests use the first by default.
    models: tuple[str, ...]
    # The key material an upstream error might echo, read from the running stack.
    secret: Callable[[Stack], str | None]
    # Request fields that route the model to this instance (Azure shares OpenAI's models).
    pin: dict[str, Any] = field(default_factory=dict)
    # The model's name on the wire, where it differs (Azure's deployments).
    deployments: dict[str, str] = field(default_factory=dict)
    # For a vendor that takes only inline images: part of the gateway's message refusing an
    # http(s) link in ``messages[0].content[1]`` before queueing, and the ``param`` it names.
    # None where links are passed on.
    image_link_refusal: str | None = None
    image_link_param: str = "messages[0].content[1].image_url.url"

    def chat(
        self, client: httpx.Client, *messages: dict[str, Any], **fields: Any
    ) -> httpx.Response:
        """One request to ``/v1/chat/completions`` served by this vendor."""
        body = {"model": self.models[0], **self.pin, "messages": list(messages), **fields}
        return client.post("/v1/chat/completions", json=body, timeout=30)


def _pem_line(stack: Stack, variable: str, line: int) -> str:
    return Path(stack.env[variable]).read_text().splitlines()[line]


def _service_account_line(stack: Stack) -> str:
    key = json.loads(Path(stack.env["VERTEX_SERVICE_ACCOUNT_FILE"]).read_text())
    line: str = key["private_key"].splitlines()[1]
    return line


FLEET_VENDORS: dict[str, FleetVendor] = {
    "azure_openai": FleetVendor(
        "azure",
        "azure_openai",
        ("gpt-4o", "gpt-4o-mini"),
        lambda stack: AZURE_SECRET,
        # gpt-4o is served by openai first (priority 0): the provider field pins it.
        pin={"provider": "azure"},
        deployments={"gpt-4o": "gpt-4o-prod", "gpt-4o-mini": "gpt-4o-mini-prod"},
    ),
    "bedrock": FleetVendor(
        "bedrock-us",
        "bedrock",
        ("meta.llama3-3-70b-instruct-v1:0",),
        lambda stack: BEDROCK_SECRET,
        image_link_refusal="Bedrock accepts only",
    ),
    "oci": FleetVendor(
        "oci",
        "oci",
        ("meta.llama-3.3-70b-instruct", "xai.grok-3"),
        lambda stack: _pem_line(stack, "OCI_PRIVATE_KEY_FILE", 2),
        image_link_refusal="OCI Generative AI takes images as base64 data: URLs",
        image_link_param="messages[0].content[1]",
    ),
    "ollama": FleetVendor(
        "ollama",
        "ollama",
        ("llama3.2",),
        lambda stack: None,
        image_link_refusal="Ollama only accepts inline images",
    ),
    "vertex": FleetVendor(
        "vertex",
        "vertex",
        ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-flash-preview"),
        _service_account_line,
    ),
    "watsonx": FleetVendor(
        "watsonx",
        "watsonx",
        (
            "ibm/granite-3-8b-instruct",
            "meta-llama/llama-3-3-70b-instruct",
            "mistralai/mistral-large",
        ),
        lambda stack: WATSONX_SECRET,
    ),
}
"""The fleet worker's vendors, keyed by provider type."""
