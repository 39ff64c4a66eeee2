"""Bedrock through the real stack: API -> queue llm.bedrock-us -> fleet worker -> boto3 ->
the emulator's Converse endpoint, SigV4-signed for us-east-1.

Only a model that bedrock-us alone serves is used: which instance serves a shared model is
the router's business, tested elsewhere. What every fleet vendor does is checked in
``test_stack_all_vendors.py``."""

from __future__ import annotations

from typing import Any

import httpx

from emulator import EmulatorControl
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
    (record,) = emulator.requests()
    assert (record["path"], record["model"]) == (f"/model/{MODEL}/converse", MODEL)
    assert record["auth"]["region"] == "us-east-1"
    assert record["auth"]["service"] == "bedrock"
    assert record["body"]["system"] == [{"text": "You are terse."}]
    assert record["body"]["messages"] == [{"role": "user", "content": [{"text": "ping"}]}]


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
