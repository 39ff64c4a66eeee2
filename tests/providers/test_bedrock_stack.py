"""Bedrock through the real stack: API -> queue llm.bedrock-us -> fleet worker -> boto3 ->
the emulator's Converse endpoint, SigV4-signed for us-east-1.

Only a model that bedrock-us alone serves is used: which instance serves a shared model is
the router's business, tested elsewhere.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from emulator import EmulatorControl, directive
from tests.conftest import BEDROCK_SECRET
from tests.support.fleet import weather_round_trip

MODEL = "meta.llama3-3-70b-instruct-v1:0"  # served by bedrock-us only


def chat(client: httpx.Client, *messages: dict[str, Any], **fields: Any) -> httpx.Response:
    body = {"model": MODEL, "messages": list(messages), **fields}
    return client.post("/v1/chat/completions", json=body)


def test_completion_is_served_by_bedrock_us_over_sigv4(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    response = chat(
        client_a,
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "ping"},
    )
    assert response.status_code == 200, response.text
    completion = response.json()
    assert completion["model"] == MODEL
    assert completion["choices"][0]["message"]["content"] == "echo: ping"
    assert completion["choices"][0]["finish_reason"] == "stop"
    (record,) = emulator.requests()
    assert record["protocol"] == "bedrock"
    assert (record["path"], record["model"]) == (f"/model/{MODEL}/converse", MODEL)
    assert record["auth"]["region"] == "us-east-1"
    assert record["auth"]["service"] == "bedrock"
    assert record["body"]["system"] == [{"text": "You are terse."}]
    assert record["body"]["messages"] == [{"role": "user", "content": [{"text": "ping"}]}]


def test_usage_in_the_result_is_bedrocks_token_counts(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 4}
    response = chat(client_a, {"role": "user", "content": "hi " + directive(usage=usage)})
    assert response.status_code == 200, response.text
    assert response.json()["usage"] == {**usage, "total_tokens": 15}


def test_tool_call_round_trip_through_converse(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    call = weather_round_trip(lambda *messages, **fields: chat(client_a, *messages, **fields))
    asked, record = emulator.requests()
    spec = asked["body"]["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["inputSchema"]["json"]["required"] == ["city"]
    assert (record["turn"], record["tool_results"]) == (1, ["18C and sunny"])
    tool_result = record["body"]["messages"][2]["content"][0]["toolResult"]
    assert tool_result["toolUseId"] == call["id"]


def test_a_validation_exception_is_a_provider_rejection_without_the_secret(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    text = directive(status=400, error=f"Malformed input request, key {BEDROCK_SECRET}")
    response = chat(client_a, {"role": "user", "content": text})
    assert response.status_code == 400, response.text
    assert BEDROCK_SECRET not in response.text
    error = response.json()["error"]
    assert error["type"] == "provider_rejected"
    assert "Malformed input request" in error["message"]
    job = client_a.get(f"/v1/jobs/{response.headers['x-llm-gateway-job-id']}").json()
    assert (job["status"], job["provider"], job["attempts"]) == ("failed", "bedrock-us", 1)
    assert BEDROCK_SECRET not in json.dumps(job["error"])
    assert len(emulator.requests()) == 1  # a rejection is not retried


def test_a_remote_image_url_is_refused_before_anything_is_queued(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    response = chat(client_a, {"role": "user", "content": [image]})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert emulator.requests() == []
