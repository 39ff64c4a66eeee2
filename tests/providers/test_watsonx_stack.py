"""The shipped ``watsonx`` instance through the real stack: API, Redis, the fleet worker's
watsonx adapter, and the emulator answering both IBM Cloud IAM and watsonx.ai. What every
fleet vendor does is checked in ``test_stack_all_vendors.py``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive
from tests.conftest import WATSONX_SECRET

MODELS = [
    "ibm/granite-3-8b-instruct",
    "meta-llama/llama-3-3-70b-instruct",
    "mistralai/mistral-large",
]
# config/providers.yaml's default: the local stack sets no WATSONX_PROJECT_ID.
PROJECT = "00000000-0000-0000-0000-000000000000"
ADD_TOOL = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Adds the values a and b to get a sum.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
}


def complete(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/v1/chat/completions", json=body, timeout=30)


@pytest.mark.parametrize("model", MODELS)
def test_model_is_served_by_the_watsonx_instance(
    client_a: httpx.Client, emulator: EmulatorControl, model: str
) -> None:
    response = complete(
        client_a,
        model=model,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "ping"},
        ],
    )
    assert response.status_code == 200, response.text
    usage = response.json()["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    [record] = emulator.requests()
    assert record["query"] == {"version": "2024-05-31"}
    assert record["auth"]["token"]  # an IAM-issued bearer token, not the API key
    wire = record["body"]
    assert wire["model_id"] == model
    assert wire["project_id"] == PROJECT
    assert wire["messages"][0] == {"role": "system", "content": "You are terse."}


def test_tool_call_round_trip(client_a: httpx.Client, emulator: EmulatorControl) -> None:
    text = "What is 2 plus 4? " + directive(
        tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 4}}]
    )
    first = complete(
        client_a,
        model="mistralai/mistral-large",
        messages=[{"role": "user", "content": text}],
        tools=[ADD_TOOL],
    )
    assert first.status_code == 200, first.text
    choice = first.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "add"
    assert json.loads(call["function"]["arguments"]) == {"a": 2, "b": 4}
    assert emulator.requests()[-1]["body"]["tools"][0]["function"]["name"] == "add"

    second = complete(
        client_a,
        model="mistralai/mistral-large",
        tools=[ADD_TOOL],
        messages=[
            {"role": "user", "content": text},
            choice["message"],
            {"role": "tool", "tool_call_id": call["id"], "content": "6"},
        ],
    )
    assert second.status_code == 200, second.text
    answer = second.json()["choices"][0]
    assert answer["finish_reason"] == "stop"
    assert answer["message"]["content"] == "tool results: 6"
    wire = emulator.requests()[-1]["body"]["messages"]
    assert wire[1]["tool_calls"][0]["id"] == call["id"]
    assert wire[2] == {"role": "tool", "tool_call_id": call["id"], "content": "6"}


def test_persistent_401_maps_to_provider_auth_failure_without_the_key(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    response = complete(
        client_a,
        model="ibm/granite-3-8b-instruct",
        messages=[{"role": "user", "content": directive(status=401)}],
    )
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["type"] == "provider_error"
    assert error["message"] == "provider authentication failed"
    assert WATSONX_SECRET not in response.text
    # One call, one re-exchange and one repeat; never retried by the gateway.
    assert [r["status"] for r in emulator.requests()] == [401, 401]
