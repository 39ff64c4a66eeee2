"""Vertex AI through the real stack: API -> queue llm.vertex -> fleet worker -> google-auth
(a signed-JWT token exchange with the emulator) -> the emulator's generateContent endpoint.

The shipped ``vertex`` instance serves gemini-2.5-flash, gemini-2.5-pro and ``gemini-*``;
``emulator.local_env`` gave the stack a service-account key file whose token_uri is the
emulator's ``/token``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive
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
    completion = response.json()
    assert completion["model"] == model
    assert completion["choices"][0]["message"]["content"] == "echo: ping"
    assert completion["choices"][0]["finish_reason"] == "stop"
    (record,) = emulator.requests()
    assert (record["protocol"], record["path"], record["model"]) == ("vertex", path(model), model)
    assert record["body"]["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert record["body"]["contents"] == [{"role": "user", "parts": [{"text": "ping"}]}]
    # The bearer token came from a service-account exchange made before this call.
    assert record["auth"]["service_account"].endswith(f"@{VERTEX_PROJECT}.iam.gserviceaccount.com")
    assert float(record["auth"]["token_exchanged_at"]) <= record["t"]
    exchanges = httpx.get(stack.emulator_url + EXCHANGES_PATH).json()["exchanges"]
    assert exchanges and exchanges[0]["t"] <= record["t"]
    assert exchanges[0]["scope"] == "https://www.googleapis.com/auth/cloud-platform"


def test_usage_in_the_result_is_geminis_token_counts(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 4}
    response = chat(client_a, {"role": "user", "content": "hi " + directive(usage=usage)})
    assert response.status_code == 200, response.text
    assert response.json()["usage"] == {**usage, "total_tokens": 15}
    job = client_a.get(f"/v1/jobs/{response.headers['x-llm-gateway-job-id']}").json()
    assert job["provider"] == "vertex"


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


def test_an_invalid_argument_is_a_provider_rejection_without_key_material(
    client_a: httpx.Client, emulator: EmulatorControl, stack: Stack
) -> None:
    key = json.loads(Path(stack.env["VERTEX_SERVICE_ACCOUNT_FILE"]).read_text())
    key_line = key["private_key"].splitlines()[1]
    text = directive(status=400, error=f"Request contains an invalid argument: {key_line}")
    response = chat(client_a, {"role": "user", "content": text})
    assert response.status_code == 400, response.text
    assert key_line not in response.text
    error = response.json()["error"]
    assert error["type"] == "provider_rejected"
    assert "Request contains an invalid argument" in error["message"]
    job = client_a.get(f"/v1/jobs/{response.headers['x-llm-gateway-job-id']}").json()
    assert (job["status"], job["provider"], job["attempts"]) == ("failed", "vertex", 1)
    assert key_line not in json.dumps(job["error"])
    assert len(emulator.requests()) == 1  # a rejection is not retried


def test_resource_exhausted_is_retried_then_succeeds(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    emulator.script({"status": 429, "error": "Resource exhausted", "retry_after": 0})
    response = chat(client_a, {"role": "user", "content": "again"})
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "echo: again"
    assert [r["status"] for r in emulator.requests()] == [429, 200]
