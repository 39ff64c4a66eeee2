"""Vertex AI through the real stack: API -> queue llm.vertex -> fleet worker -> google-auth
(a signed-JWT token exchange with the emulator) -> the emulator's generateContent endpoint.

The shipped ``vertex`` instance serves gemini-2.5-flash, gemini-2.5-pro and ``gemini-*``;
``emulator.local_env`` gave the stack a service-account key file whose token_uri is the
emulator's ``/token``. What every fleet vendor does is checked in ``test_stack_all_vendors.py``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator import EmulatorControl
from emulator.local_env import VERTEX_PROJECT
from emulator.protocols.google_oauth import EXCHANGES_PATH
from tests.support.fleet import weather_round_trip
from tests.support.processes import Stack

MODEL = "gemini-2.5-flash"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def chat(
    client: httpx.Client, *messages: dict[str, Any], model: str = MODEL, **fields: Any
) -> httpx.Response:
    body = {"model": model, "messages": list(messages), **fields}
    return client.post("/v1/chat/completions", json=body)


def path(model: str) -> str:
    location = f"/v1/projects/{VERTEX_PROJECT}/locations/us-central1"
    return f"{location}/publishers/google/models/{model}:generateContent"


@pytest.mark.parametrize("model", [MODEL, "gemini-2.5-pro", "gemini-3-flash-preview"])
def test_completion_is_served_by_vertex_with_a_token_from_the_exchange(
    client_a: httpx.Client, emulator: EmulatorControl, stack: Stack, model: str
) -> None:
    response = chat(
        client_a,
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "ping"},
        model=model,
    )
    assert response.status_code == 200, response.text
    (record,) = emulator.requests()
    assert record["path"] == path(model)
    assert record["body"]["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert record["body"]["contents"] == [{"role": "user", "parts": [{"text": "ping"}]}]
    # The bearer token came from a service-account exchange made before this call.
    assert record["auth"]["service_account"].endswith(f"@{VERTEX_PROJECT}.iam.gserviceaccount.com")
    assert float(record["auth"]["token_exchanged_at"]) <= record["t"]
    exchanges = httpx.get(stack.emulator_url + EXCHANGES_PATH).json()["exchanges"]
    assert exchanges and exchanges[0]["t"] <= record["t"]
    assert exchanges[0]["scope"] == "https://www.googleapis.com/auth/cloud-platform"


def test_tool_call_round_trip_through_function_calling(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    weather_round_trip(
        lambda *messages, **fields: chat(client_a, *messages, **fields),
        WEATHER_TOOL,
        tool_choice="required",
    )
    asked, record = emulator.requests()
    sent = asked["body"]
    [declaration] = sent["tools"][0]["functionDeclarations"]
    # additionalProperties is not in Gemini's schema subset: the emulator would 400 on it.
    assert declaration["parameters"] == {
        "type": "OBJECT",
        "properties": {"city": {"type": "STRING"}},
        "required": ["city"],
    }
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert (record["turn"], record["tool_results"]) == (1, ["18C and sunny"])
    response_part = record["body"]["contents"][2]["parts"][0]["functionResponse"]
    assert response_part == {"name": "get_weather", "response": {"output": "18C and sunny"}}
