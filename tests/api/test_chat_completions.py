"""The official ``openai`` SDK against the gateway's OpenAI-compatible endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from emulator import EmulatorControl
from tests.conftest import KEY_A
from tests.support.processes import Stack

MODELS = ["gpt-4o-mini", "claude-sonnet-4-5"]
WEATHER_TOOL = {
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


@pytest.fixture
def sdk(stack: Stack, emulator: EmulatorControl) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_A, max_retries=0) as client:
        yield client


def directive(**script: Any) -> str:
    return f"<<emulator:{json.dumps(script)}>>"


@pytest.mark.parametrize("model", MODELS)
def test_openai_sdk_gets_chat_completion(sdk: openai.OpenAI, model: str) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model=model,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "ping"},
        ],
    )
    completion = raw.parse()
    assert raw.headers["x-llm-gateway-job-id"].startswith("job_")
    assert completion.model == model
    assert completion.choices[0].message.content == "echo: ping"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_openai_sdk_gets_tool_call_response(
    sdk: openai.OpenAI, model: str, emulator: EmulatorControl
) -> None:
    text = "weather? " + directive(
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]
    )
    completion = sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": text}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    # The tool definition reached the provider in its own wire format.
    upstream = emulator.requests()[-1]["body"]
    if model.startswith("claude"):
        assert upstream["tools"][0]["input_schema"]["required"] == ["city"]
    else:
        assert upstream["tools"][0]["function"]["name"] == "get_weather"

    # Second turn: the tool result goes back, the model answers.
    follow_up = sdk.chat.completions.create(
        model=model,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": text},
            choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
        ],
    )
    assert follow_up.choices[0].finish_reason == "stop"
    assert "18C and sunny" in (follow_up.choices[0].message.content or "")


def test_openai_sdk_streaming_gets_chunks(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text = ""
    usage = None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text == "echo: stream me"
    assert usage is not None and usage.total_tokens > 0


def test_provider_rejection_maps_to_sdk_bad_request(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(
            model="claude-sonnet-4-5",
            messages=[
                {"role": "user", "content": directive(status=400, error="prompt is too long")}
            ],
        )
    assert "prompt is too long" in str(info.value)
    assert info.value.response.headers["x-llm-gateway-job-id"].startswith("job_")


def test_provider_outage_maps_to_sdk_server_error_without_sdk_retries(
    stack: Stack, emulator: EmulatorControl
) -> None:
    # An SDK left at its default retries must not resubmit: the gateway already retried.
    with (
        openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_A, max_retries=2) as retrying,
        pytest.raises(openai.InternalServerError) as info,
    ):
        retrying.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": directive(status=503)}],
            extra_body={"provider": "openai"},  # no fallback to Azure's copy of the model
        )
    assert info.value.status_code == 502
    assert info.value.response.headers["x-should-retry"] == "false"
    assert len(emulator.requests()) == 3  # the gateway's 3 attempts, one job


def test_unknown_model_maps_to_sdk_bad_request(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert "gpt-4o-mini" in str(info.value)


def test_bad_key_maps_to_sdk_authentication_error(stack: Stack) -> None:
    with (
        openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key="wrong", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError, match="401"),
    ):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )


def test_models_endpoint_lists_routable_models(sdk: openai.OpenAI) -> None:
    ids = {m.id for m in sdk.models.list()}
    assert {"gpt-4o-mini", "claude-sonnet-4-5"} <= ids
