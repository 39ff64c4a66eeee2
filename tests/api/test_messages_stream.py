"""``POST /v1/messages`` with ``stream: true``: Anthropic's event stream, read by the
official SDK's ``messages.stream`` helper, from each vendor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from emulator import EmulatorControl, directive
from tests.api.test_messages import ROUTES, WEATHER_TOOL, pinned, user
from tests.conftest import KEY_A
from tests.support.processes import Stack
from tests.support.sse import events as sse_events


@pytest.fixture
def sdk(stack: Stack, emulator: EmulatorControl) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=stack.api_url, api_key=KEY_A, max_retries=0) as client:
        yield client


@pytest.mark.parametrize(("model", "instance", "protocol"), ROUTES)
def test_sdk_streams_text_and_gets_the_final_message(
    sdk: anthropic.Anthropic, model: str, instance: str, protocol: str
) -> None:
    with sdk.messages.stream(
        model=model, max_tokens=64, messages=[user("stream me")], **pinned(instance)
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        job_id = stream.response.headers["x-llm-gateway-job-id"]
    assert text == "echo: stream me"
    assert final.id == "msg_" + job_id.removeprefix("job_")
    assert [(b.type, getattr(b, "text", None)) for b in final.content] == [
        ("text", "echo: stream me")
    ]
    assert (final.stop_reason, final.model) == ("end_turn", model)
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0


@pytest.mark.parametrize(("model", "instance", "protocol"), ROUTES)
def test_sdk_streams_a_tool_use(
    sdk: anthropic.Anthropic, model: str, instance: str, protocol: str
) -> None:
    text = "weather? " + directive(
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]
    )
    with sdk.messages.stream(
        model=model,
        max_tokens=64,
        messages=[user(text)],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        **pinned(instance),
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    [call] = [b for b in final.content if b.type == "tool_use"]
    assert (call.name, call.input) == ("get_weather", {"city": "Paris"})
    assert call.id


def _events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    return [(e.event or "", json.loads(e.data)) for e in sse_events(response) if e.data]


def test_the_event_sequence_is_anthropics(client_a: httpx.Client) -> None:
    body = {"model": "gpt-4o-mini", "max_tokens": 16, "messages": [user("hi")], "stream": True}
    response = client_a.post("/v1/messages", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in _events(response) if name != "ping"]
    assert names[0] == "message_start"
    assert names[1] == "content_block_start"
    assert set(names[2:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    for name, data in _events(response):
        assert data["type"] == name


def test_a_job_failing_before_any_output_is_an_error_response(
    sdk: anthropic.Anthropic,
) -> None:
    with (
        pytest.raises(anthropic.BadRequestError) as info,
        sdk.messages.stream(
            model="gpt-4o-mini",
            max_tokens=16,
            messages=[user(directive(status=400, error="prompt is too long"))],
            **pinned("openai"),
        ) as stream,
    ):
        stream.get_final_message()
    assert "prompt is too long" in info.value.message
    assert info.value.response.headers["x-llm-gateway-job-id"].startswith("job_")


def test_a_failure_mid_stream_is_an_error_event(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    # The provider sends part of its answer, then breaks: the job fails after output.
    broken = directive(reply="a partial answer " * 8, stream_fault="error", fault_after=5)
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 16,
        "messages": [user(broken)],
        "stream": True,
        "provider": "openai",
    }
    response = client_a.post("/v1/messages", json=body)
    assert response.status_code == 200
    events = _events(response)
    name, data = events[-1]
    assert name == "error"
    assert data["type"] == "error"
    assert data["error"]["type"] == "api_error"
    assert "mid-stream" in data["error"]["message"]
    names = [n for n, _ in events]
    assert "content_block_delta" in names and "message_stop" not in names


def test_a_stream_waiting_for_capacity_sends_pings(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    # The emulator takes over a second (two keep-alive intervals) before it answers.
    slow = directive(latency_ms=2500)
    body = {"model": "gpt-4o-mini", "max_tokens": 16, "messages": [user(slow)], "stream": True}
    response = client_a.post("/v1/messages", json=body, timeout=30)
    assert response.status_code == 200
    names = [name for name, _ in _events(response)]
    assert "ping" in names
    assert names[-1] == "message_stop"
    assert ": job job_" in response.text  # the keep-alive comment says where the job is
