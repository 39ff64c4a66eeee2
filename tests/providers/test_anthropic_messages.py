"""Neutral types <-> the Anthropic Messages API, from documented shapes, plus round trips."""

from __future__ import annotations

import inspect
import json
from typing import Any

import anthropic
import pytest

from gateway.errors import CapabilityMissing, InvalidRequest, ProviderError
from providers.anthropic_format import from_anthropic_message, to_anthropic_request
from providers.openai_format import chat_request_from_openai, chat_response_to_openai
from providers.output_tool import OUTPUT_TOOL
from providers.types import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolDefinition,
    Usage,
)

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location"],
}
WEATHER_TOOL = ToolDefinition(
    "get_weather", "Get the current weather in a given location", WEATHER_SCHEMA
)
# A 1x1 PNG.
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6"
    "kgAAAABJRU5ErkJggg=="
)


def user(*parts: TextPart | ImagePart) -> Message:
    return Message("user", parts)


def text(value: str) -> TextPart:
    return TextPart(value)


def request(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model="claude-sonnet-4-5", messages=messages, **fields)


def anthropic_body(
    *messages: dict[str, Any], max_tokens: int = 1024, **fields: Any
) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": max_tokens,
        "messages": list(messages),
        **fields,
    }


HELLO = {"role": "user", "content": [{"type": "text", "text": "Hello, Claude"}]}
CALL_SF = ToolCall(
    "toolu_01A09q90qw90lq917835lq9", "get_weather", '{"location": "San Francisco, CA"}'
)
CALL_NY = ToolCall("toolu_02", "get_weather", '{"location": "New York, NY", "unit": "celsius"}')
TOOL_USE_SF = {
    "type": "tool_use",
    "id": "toolu_01A09q90qw90lq917835lq9",
    "name": "get_weather",
    "input": {"location": "San Francisco, CA"},
}
TOOL_USE_NY = {
    "type": "tool_use",
    "id": "toolu_02",
    "name": "get_weather",
    "input": {"location": "New York, NY", "unit": "celsius"},
}

REQUESTS_TO_ANTHROPIC = [
    pytest.param(
        request(user(text("Hello, Claude"))),
        anthropic_body(HELLO, max_tokens=4096),
        id="default-max-tokens-when-the-request-sets-none",
    ),
    pytest.param(
        request(
            Message("system", (text("You are a pirate."),)),
            Message("system", (text("Be brief."),)),
            user(text("Hello, Claude")),
            max_tokens=1024,
        ),
        anthropic_body(HELLO, system="You are a pirate.\n\nBe brief."),
        id="system-messages-become-the-system-field",
    ),
    pytest.param(
        request(
            user(text("What's the weather in SF and NY?")),
            Message("assistant", (text("I'll check both."),), (CALL_SF, CALL_NY)),
            Message("tool", (text("15 degrees"),), tool_call_id=CALL_SF.id),
            Message("tool", (text("-3 degrees"),), tool_call_id=CALL_NY.id),
            user(text("Thanks!")),
            max_tokens=1024,
        ),
        anthropic_body(
            {
                "role": "user",
                "content": [{"type": "text", "text": "What's the weather in SF and NY?"}],
            },
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "I'll check both."}, TOOL_USE_SF, TOOL_USE_NY],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": CALL_SF.id, "content": "15 degrees"},
                    {"type": "tool_result", "tool_use_id": CALL_NY.id, "content": "-3 degrees"},
                ],
            },
            {"role": "user", "content": [{"type": "text", "text": "Thanks!"}]},
        ),
        id="consecutive-tool-results-share-one-user-message",
    ),
    pytest.param(
        request(
            user(text("weather?")),
            Message("assistant", tool_calls=(ToolCall("toolu_9", "now", ""),)),
            Message("tool", (text("12:00"),), tool_call_id="toolu_9"),
            max_tokens=1024,
        ),
        anthropic_body(
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_9", "name": "now", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "12:00"}],
            },
        ),
        id="empty-arguments-become-an-empty-input-object",
    ),
    pytest.param(
        request(
            user(
                text("Compare these."),
                ImagePart(f"data:image/png;base64,{PNG_B64}"),
                ImagePart("data:image/jpg;base64,/9j/4AAQ"),
                ImagePart(
                    "https://upload.wikimedia.org/a/a7/Camponotus_flavomarginatus_ant.jpg", "high"
                ),
                text(""),
            ),
            max_tokens=1024,
        ),
        anthropic_body(
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare these."},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                    },
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/jpeg",
                            "data": "/9j/4AAQ",
                        },
                    },
                    {
                        "type": "image",
                        "source": {
                            "type": "url",
                            "url": "https://upload.wikimedia.org/a/a7/Camponotus_flavomarginatus_ant.jpg",
                        },
                    },
                ],
            }
        ),
        id="images-data-urls-to-base64-http-urls-to-url-sources",
    ),
    pytest.param(
        request(
            user(text("draw")),
            Message("assistant", tool_calls=(ToolCall("toolu_1", "render", "{}"),)),
            Message(
                "tool",
                (text("done"), ImagePart(f"data:image/png;base64,{PNG_B64}")),
                tool_call_id="toolu_1",
            ),
            max_tokens=1024,
        ),
        anthropic_body(
            {"role": "user", "content": [{"type": "text", "text": "draw"}]},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "render", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [
                            {"type": "text", "text": "done"},
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": PNG_B64,
                                },
                            },
                        ],
                    }
                ],
            },
        ),
        id="tool-result-with-an-image-uses-content-blocks",
    ),
    pytest.param(
        request(
            user(text("x")),
            tools=(WEATHER_TOOL, ToolDefinition("ping")),
            stop=("\n\nHuman:",),
            parallel_tool_calls=False,
            user="user-42",
            max_tokens=64,
        ),
        anthropic_body(
            {"role": "user", "content": [{"type": "text", "text": "x"}]},
            max_tokens=64,
            tools=[
                {
                    "name": "get_weather",
                    "description": "Get the current weather in a given location",
                    "input_schema": WEATHER_SCHEMA,
                },
                {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
            ],
            tool_choice={"type": "auto", "disable_parallel_tool_use": True},
            stop_sequences=["\n\nHuman:"],
            metadata={"user_id": "user-42"},
        ),
        id="tools-stop-sequences-parallel-calls-and-user-metadata",
    ),
]


@pytest.mark.parametrize(("req", "expected"), REQUESTS_TO_ANTHROPIC)
def test_neutral_request_maps_to_anthropic_messages_body(
    req: ChatRequest, expected: dict[str, Any]
) -> None:
    assert to_anthropic_request(req, default_max_tokens=4096) == expected


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        pytest.param("auto", {"type": "auto"}, id="auto"),
        pytest.param("none", {"type": "none"}, id="none"),
        pytest.param("required", {"type": "any"}, id="required-is-any"),
        pytest.param("get_weather", {"type": "tool", "name": "get_weather"}, id="named-tool"),
    ],
)
def test_tool_choice_maps_to_anthropic_tool_choice(
    tool_choice: str, expected: dict[str, str]
) -> None:
    req = request(user(text("x")), tools=(WEATHER_TOOL,), tool_choice=tool_choice)
    assert to_anthropic_request(req, 1024)["tool_choice"] == expected


INVALID_FOR_ANTHROPIC = [
    pytest.param(
        request(
            user(text("x")), Message("assistant", tool_calls=(ToolCall("t", "f", "{not json"),))
        ),
        "messages[1].tool_calls[0].function.arguments",
        id="tool-arguments-not-json",
    ),
    pytest.param(
        request(user(text("x")), Message("assistant", tool_calls=(ToolCall("t", "f", "[1, 2]"),))),
        "messages[1].tool_calls[0].function.arguments",
        id="tool-arguments-not-an-object",
    ),
    pytest.param(
        request(
            Message("system", (text("s"),)),
            user(text("x"), ImagePart("data:image/svg+xml;base64,PHN2Zz4=")),
        ),
        "messages[1].content[1].image_url.url",
        id="unsupported-image-type",
    ),
    pytest.param(
        request(user(ImagePart("data:image/png,not-base64"))),
        "messages[0].content[0].image_url.url",
        id="data-url-not-base64",
    ),
    pytest.param(
        request(user(ImagePart("file:///etc/passwd"))),
        "messages[0].content[0].image_url.url",
        id="image-url-bad-scheme",
    ),
    pytest.param(
        request(user(text("x")), Message("tool", (text("r"),))),
        "messages[1].tool_call_id",
        id="tool-message-without-tool-call-id",
    ),
]


@pytest.mark.parametrize(("req", "param"), INVALID_FOR_ANTHROPIC)
def test_what_anthropic_cannot_express_is_an_invalid_request(req: ChatRequest, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_anthropic_request(req, 1024)
    assert caught.value.param == param


# --- OpenAI's other parameters ---------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


def test_a_json_schema_is_anthropic_structured_output() -> None:
    fmt = ResponseFormat("json_schema", name="city", schema=SCHEMA, strict=True)
    body = to_anthropic_request(request(user(text("x")), response_format=fmt), 1024)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert "tools" not in body and "tool_choice" not in body


def test_json_mode_forces_the_output_tool() -> None:
    fmt = ResponseFormat("json_object")
    body = to_anthropic_request(request(user(text("x")), response_format=fmt), 1024)
    assert body["tools"] == [
        {
            "name": "json_output",
            "description": OUTPUT_TOOL.description,
            "input_schema": {"type": "object"},
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "json_output"}


def test_json_mode_beside_the_callers_tools_is_refused() -> None:
    req = request(
        user(text("x")), tools=(WEATHER_TOOL,), response_format=ResponseFormat("json_object")
    )
    with pytest.raises(CapabilityMissing, match="forcing a tool") as caught:
        to_anthropic_request(req, 1024)
    assert caught.value.param == "response_format"


@pytest.mark.parametrize(
    ("effort", "expected"),
    [
        ("minimal", "low"),
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("xhigh", "xhigh"),
    ],
)
def test_reasoning_effort_is_the_output_effort(effort: str, expected: str) -> None:
    body = to_anthropic_request(request(user(text("x")), reasoning_effort=effort), 1024)
    assert body["output_config"] == {"effort": expected}


@pytest.mark.parametrize(("tier", "expected"), [("auto", "auto"), ("default", "standard_only")])
def test_service_tier_maps_to_anthropics_names(tier: str, expected: str) -> None:
    body = to_anthropic_request(request(user(text("x")), service_tier=tier), 1024)
    assert body["service_tier"] == expected


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        pytest.param({"temperature": 0.5}, "temperature", id="temperature"),
        pytest.param({"top_p": 0.5}, "top_p", id="top-p"),
        pytest.param({"service_tier": "flex"}, "service_tier", id="flex-tier"),
        pytest.param({"service_tier": "priority"}, "service_tier", id="priority-tier"),
        pytest.param({"reasoning_effort": "none"}, "reasoning_effort", id="no-effort"),
        pytest.param({"reasoning_effort": "turbo"}, "reasoning_effort", id="unknown-effort"),
    ],
)
def test_values_anthropic_has_no_counterpart_for_are_refused(
    fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(CapabilityMissing) as caught:
        to_anthropic_request(request(user(text("x")), **fields), 1024)
    assert caught.value.param == param


def test_a_json_schema_without_its_schema_is_an_invalid_request() -> None:
    req = request(user(text("x")), response_format=ResponseFormat("json_schema", name="n"))
    with pytest.raises(InvalidRequest) as caught:
        to_anthropic_request(req, 1024)
    assert caught.value.param == "response_format.json_schema.schema"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"tool_choice": "required", "parallel_tool_calls": False},
            {"type": "any", "disable_parallel_tool_use": True},
            id="required-one-at-a-time",
        ),
        pytest.param(
            {"parallel_tool_calls": True},
            {"type": "auto", "disable_parallel_tool_use": False},
            id="parallel-allowed",
        ),
        pytest.param(
            {"tool_choice": "none", "parallel_tool_calls": False},
            {"type": "none"},
            id="none-takes-no-flag",
        ),
    ],
)
def test_parallel_tool_calls_rides_in_the_tool_choice(
    fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    req = request(user(text("x")), tools=(WEATHER_TOOL,), **fields)
    assert to_anthropic_request(req, 1024)["tool_choice"] == expected


def test_every_argument_the_adapter_passes_is_in_the_sdks_signature() -> None:
    # The SDK dropped temperature, top_p and top_k from messages.create: an argument it
    # does not declare is a TypeError in the worker, not a 400.
    req = request(
        Message("system", (text("s"),)),
        user(text("x")),
        tools=(WEATHER_TOOL,),
        tool_choice="required",
        parallel_tool_calls=False,
        stop=("END",),
        user="u",
        max_tokens=10,
        response_format=ResponseFormat("json_schema", name="n", schema=SCHEMA),
        reasoning_effort="low",
        service_tier="auto",
    )
    declared = inspect.signature(anthropic.resources.Messages.create).parameters
    assert set(to_anthropic_request(req, 1024)) <= set(declared)


def test_openai_tool_loop_maps_through_neutral_to_anthropic() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": "Weather in SF and NY?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in (CALL_SF, CALL_NY)
                ],
            },
            {"role": "tool", "tool_call_id": CALL_SF.id, "content": "15 degrees"},
            {
                "role": "tool",
                "tool_call_id": CALL_NY.id,
                "content": [{"type": "text", "text": "-3 degrees"}],
            },
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": WEATHER_TOOL.description,
                    "parameters": WEATHER_SCHEMA,
                },
            }
        ],
        "tool_choice": "required",
        "max_tokens": 512,
        "stop": "END",
    }
    assert to_anthropic_request(chat_request_from_openai(body), 4096) == anthropic_body(
        {"role": "user", "content": [{"type": "text", "text": "Weather in SF and NY?"}]},
        {"role": "assistant", "content": [TOOL_USE_SF, TOOL_USE_NY]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": CALL_SF.id, "content": "15 degrees"},
                {"type": "tool_result", "tool_use_id": CALL_NY.id, "content": "-3 degrees"},
            ],
        },
        max_tokens=512,
        system="Use tools.",
        tools=[
            {
                "name": "get_weather",
                "description": WEATHER_TOOL.description,
                "input_schema": WEATHER_SCHEMA,
            }
        ],
        tool_choice={"type": "any"},
        stop_sequences=["END"],
    )


# --- responses -------------------------------------------------------------------------------

# The Messages API reference and tool-use guide examples.
TEXT_MESSAGE = {
    "content": [{"text": "Hi! My name is Claude.", "type": "text"}],
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "model": "claude-sonnet-4-5",
    "role": "assistant",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "type": "message",
    "usage": {"input_tokens": 2095, "output_tokens": 503},
}
TOOL_USE_MESSAGE = {
    "id": "msg_01Aq9w938a90dw8q",
    "model": "claude-sonnet-4-5",
    "stop_reason": "tool_use",
    "role": "assistant",
    "type": "message",
    "content": [
        {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "input": {"location": "San Francisco, CA", "unit": "celsius"},
        },
    ],
    "usage": {"input_tokens": 384, "output_tokens": 64},
}


def _message(
    *blocks: dict[str, Any], stop_reason: Any = "end_turn", **usage: Any
) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "model": "claude-haiku-4-5",
        "content": list(blocks),
        "stop_reason": stop_reason,
        "usage": usage or {"input_tokens": 1, "output_tokens": 2},
    }


def _text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value, "citations": None}


RESPONSES_FROM_ANTHROPIC = [
    pytest.param(
        TEXT_MESSAGE,
        ChatResponse(
            Message("assistant", (text("Hi! My name is Claude."),)),
            "stop",
            Usage(2095, 503),
            "claude-sonnet-4-5",
            "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        ),
        id="text-message",
    ),
    pytest.param(
        TOOL_USE_MESSAGE,
        ChatResponse(
            Message(
                "assistant",
                (text("I'll check the current weather in San Francisco for you."),),
                (
                    ToolCall(
                        "toolu_01A09q90qw90lq917835lq9",
                        "get_weather",
                        '{"location": "San Francisco, CA", "unit": "celsius"}',
                    ),
                ),
            ),
            "tool_calls",
            Usage(384, 64),
            "claude-sonnet-4-5",
            "msg_01Aq9w938a90dw8q",
        ),
        id="tool-use-message",
    ),
    pytest.param(
        _message(
            {"type": "thinking", "thinking": "Let me think...", "signature": "sig"},
            {"type": "redacted_thinking", "data": "abc"},
            _text("The answer "),
            _text("is 4."),
        ),
        ChatResponse(
            Message("assistant", (text("The answer is 4."),)),
            "stop",
            Usage(1, 2),
            "claude-haiku-4-5",
            "msg_1",
        ),
        id="thinking-skipped-text-blocks-joined",
    ),
    pytest.param(
        _message(
            _text("x"),
            input_tokens=10,
            cache_creation_input_tokens=200,
            cache_read_input_tokens=3000,
            output_tokens=5,
            server_tool_use=None,
        ),
        ChatResponse(
            Message("assistant", (text("x"),)), "stop", Usage(3210, 5), "claude-haiku-4-5", "msg_1"
        ),
        id="prompt-tokens-include-cache-reads-and-writes",
    ),
    pytest.param(
        _message(stop_reason="end_turn", input_tokens=None, output_tokens=None),
        ChatResponse(Message("assistant"), "stop", Usage(0, 0), "claude-haiku-4-5", "msg_1"),
        id="empty-content-and-null-usage",
    ),
]


@pytest.mark.parametrize(("body", "expected"), RESPONSES_FROM_ANTHROPIC)
def test_anthropic_message_parses_to_neutral_response(
    body: dict[str, Any], expected: ChatResponse
) -> None:
    assert from_anthropic_message(body) == expected


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        (None, "stop"),
        ("something_new", "stop"),
    ],
    ids=lambda v: str(v),
)
def test_stop_reason_maps_to_finish_reason(stop_reason: str | None, finish_reason: str) -> None:
    assert (
        from_anthropic_message(_message(_text("x"), stop_reason=stop_reason)).finish_reason
        == finish_reason
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"id": "msg_1"}, id="content-missing"),
        pytest.param({"content": "Hi"}, id="content-a-string"),
        pytest.param(
            _message({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}),
            id="server-tool-use",
        ),
        pytest.param(
            _message({"type": "tool_use", "id": "t", "name": "f", "input": "x"}),
            id="tool-input-not-object",
        ),
        pytest.param({**_message(), "content": ["text"]}, id="block-not-an-object"),
    ],
)
def test_unexpected_anthropic_content_is_a_provider_error(body: dict[str, Any]) -> None:
    with pytest.raises(ProviderError) as caught:
        from_anthropic_message(body)
    assert caught.value.status_code == 502


def test_anthropic_tool_use_renders_as_openai_tool_calls_with_json_arguments() -> None:
    rendered = chat_response_to_openai(
        from_anthropic_message(TOOL_USE_MESSAGE),
        response_id="chatcmpl-1",
        created=1,
        model="claude-sonnet-4-5",
    )
    choice = rendered["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert (
        choice["message"]["content"] == "I'll check the current weather in San Francisco for you."
    )
    [call] = choice["message"]["tool_calls"]
    assert (call["id"], call["type"], call["function"]["name"]) == (
        "toolu_01A09q90qw90lq917835lq9",
        "function",
        "get_weather",
    )
    assert json.loads(call["function"]["arguments"]) == TOOL_USE_MESSAGE["content"][1]["input"]  # type: ignore[index]
    assert rendered["usage"] == {"prompt_tokens": 384, "completion_tokens": 64, "total_tokens": 448}


def test_anthropic_tool_use_response_feeds_back_as_an_identical_tool_use_block() -> None:
    answer = from_anthropic_message(TOOL_USE_MESSAGE)
    follow_up = request(
        user(text("Weather in SF?")),
        answer.message,
        Message("tool", (text("15 degrees"),), tool_call_id=answer.message.tool_calls[0].id),
    )
    assistant_turn = to_anthropic_request(follow_up, 1024)["messages"][1]
    assert assistant_turn == {"role": "assistant", "content": TOOL_USE_MESSAGE["content"]}
