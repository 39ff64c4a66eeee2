"""OpenAI chat-completions format <-> neutral types, both directions, from documented shapes."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from gateway.errors import InvalidRequest, ProviderUnavailable
from providers.openai_format import (
    chat_request_from_openai,
    chat_request_to_openai,
    chat_response_from_openai,
    chat_response_to_openai,
    message_from_openai,
    message_to_openai,
)
from providers.openai_stream import ChunkReader
from providers.streaming import StreamAssembler, TextDelta
from providers.types import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolDefinition,
    Usage,
)

# --- documented payloads (OpenAI API reference and function-calling / vision guides) ---------

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location"],
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": WEATHER_PARAMETERS,
    },
}
IMAGE_URL = "https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/boardwalk.jpg"
TOOL_CALL = {
    "id": "call_abc123",
    "type": "function",
    "function": {"name": "get_current_weather", "arguments": '{\n"location": "Boston, MA"\n}'},
}
TOOL_LOOP = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What's the weather like in Boston today?"},
    {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
    {"role": "tool", "tool_call_id": "call_abc123", "content": '{"temperature": 22}'},
]

NEUTRAL_TOOL_CALL = ToolCall("call_abc123", "get_current_weather", '{\n"location": "Boston, MA"\n}')
NEUTRAL_TOOL_LOOP = (
    Message("system", (TextPart("You are a helpful assistant."),)),
    Message("user", (TextPart("What's the weather like in Boston today?"),)),
    Message("assistant", tool_calls=(NEUTRAL_TOOL_CALL,)),
    Message("tool", (TextPart('{"temperature": 22}'),), tool_call_id="call_abc123"),
)


def user(text: str) -> Message:
    return Message("user", (TextPart(text),))


# --- requests: OpenAI -> neutral -------------------------------------------------------------

REQUESTS_FROM_OPENAI = [
    pytest.param(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]},
        ChatRequest(model="gpt-4o-mini", messages=(user("Hello!"),)),
        id="string-content-becomes-one-text-part",
    ),
    pytest.param(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Hi", "name": "alice"},
            ],
        },
        ChatRequest(
            model="gpt-4o",
            messages=(
                Message("system", (TextPart("Be brief."),)),
                Message("system", (TextPart("Answer in French."),)),
                Message("user", (TextPart("Hi"),), name="alice"),
            ),
        ),
        id="developer-role-becomes-system",
    ),
    pytest.param(
        {
            "model": "gpt-4o",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What's in this image?"},
                        {"type": "image_url", "image_url": {"url": IMAGE_URL, "detail": "high"}},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                    ],
                }
            ],
            "max_tokens": 300,
        },
        ChatRequest(
            model="gpt-4o",
            messages=(
                Message(
                    "user",
                    (
                        TextPart("What's in this image?"),
                        ImagePart(IMAGE_URL, "high"),
                        ImagePart("data:image/png;base64,iVBO"),
                    ),
                ),
            ),
            max_tokens=300,
        ),
        id="multi-part-content-with-images",
    ),
    pytest.param(
        {"model": "gpt-4o", "messages": TOOL_LOOP, "tools": [WEATHER_TOOL], "tool_choice": "auto"},
        ChatRequest(
            model="gpt-4o",
            messages=NEUTRAL_TOOL_LOOP,
            tools=(
                ToolDefinition(
                    "get_current_weather",
                    "Get the current weather in a given location",
                    WEATHER_PARAMETERS,
                ),
            ),
            tool_choice="auto",
        ),
        id="tool-loop-with-assistant-tool-calls-and-tool-result",
    ),
    pytest.param(
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "weather?"}],
            "tools": [WEATHER_TOOL, {"type": "function", "function": {"name": "noop"}}],
            "tool_choice": {"type": "function", "function": {"name": "get_current_weather"}},
        },
        ChatRequest(
            model="gpt-4o",
            messages=(user("weather?"),),
            tools=(
                ToolDefinition(
                    "get_current_weather",
                    "Get the current weather in a given location",
                    WEATHER_PARAMETERS,
                ),
                ToolDefinition("noop"),
            ),
            tool_choice="get_current_weather",
        ),
        id="named-tool-choice-becomes-the-function-name",
    ),
    pytest.param(
        {
            "model": "o3-mini",
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 10,
            "max_completion_tokens": 20,
            "temperature": 0,
            "top_p": 0.5,
            "stop": "\n\n",
            "user": "user-1234",
        },
        ChatRequest(
            model="o3-mini",
            messages=(user("x"),),
            max_tokens=20,
            temperature=0.0,
            top_p=0.5,
            stop=("\n\n",),
            user="user-1234",
        ),
        id="max-completion-tokens-wins-and-sampling-fields",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": "x"}], "stop": ["END", "STOP"], "n": 1},
        ChatRequest(model="", messages=(user("x"),), stop=("END", "STOP")),
        id="missing-model-is-empty-for-the-default-route",
    ),
]


@pytest.mark.parametrize(("body", "expected"), REQUESTS_FROM_OPENAI)
def test_openai_request_parses_to_neutral_request(
    body: dict[str, Any], expected: ChatRequest
) -> None:
    assert chat_request_from_openai(body) == expected


def _body(*messages: Any, **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": list(messages), **fields}


U = {"role": "user", "content": "hi"}

INVALID_REQUESTS = [
    pytest.param([], "body", id="body-not-an-object"),
    pytest.param({"model": "gpt-4o"}, "messages", id="messages-missing"),
    pytest.param(_body(), "messages", id="messages-empty"),
    pytest.param(_body(U, model=4), "model", id="model-not-a-string"),
    pytest.param(_body("hi"), "messages[0]", id="message-not-an-object"),
    pytest.param(
        _body({"role": "function", "content": "x"}), "messages[0].role", id="unknown-role"
    ),
    pytest.param(_body({"content": "x"}), "messages[0].role", id="role-missing"),
    pytest.param(_body({"role": "user"}), "messages[0].content", id="user-content-missing"),
    pytest.param(
        _body({"role": "user", "content": 42}), "messages[0].content", id="content-number"
    ),
    pytest.param(
        _body(
            U, {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "input_audio"}]}
        ),
        "messages[1].content[1].type",
        id="unknown-part-type",
    ),
    pytest.param(
        _body({"role": "user", "content": [{"type": "text"}]}),
        "messages[0].content[0].text",
        id="text-part-without-text",
    ),
    pytest.param(
        _body({"role": "user", "content": [{"type": "image_url", "image_url": "https://x/y.png"}]}),
        "messages[0].content[0].image_url",
        id="image-url-not-an-object",
    ),
    pytest.param(
        _body(
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}
        ),
        "messages[0].content[0].image_url.url",
        id="image-url-bad-scheme",
    ),
    pytest.param(
        _body(
            U,
            {
                "role": "assistant",
                "content": [{"type": "image_url", "image_url": {"url": IMAGE_URL}}],
            },
        ),
        "messages[1].content[0].type",
        id="image-in-assistant-message",
    ),
    pytest.param(
        _body({"role": "user", "content": "x", "tool_calls": [TOOL_CALL]}),
        "messages[0].tool_calls",
        id="tool-calls-on-user-message",
    ),
    pytest.param(
        _body(U, {"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]}),
        "messages[1].tool_calls[0].function",
        id="tool-call-without-function",
    ),
    pytest.param(
        _body(
            U,
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}],
            },
        ),
        "messages[1].tool_calls[0].function.arguments",
        id="tool-call-arguments-not-json-text",
    ),
    pytest.param(
        _body(U, {"role": "tool", "content": "22C"}),
        "messages[1].tool_call_id",
        id="tool-message-without-tool-call-id",
    ),
    pytest.param(_body(U, tools={"type": "function"}), "tools", id="tools-not-an-array"),
    pytest.param(
        _body(U, tools=[{"type": "function", "function": {"description": "no name"}}]),
        "tools[0].function.name",
        id="tool-without-name",
    ),
    pytest.param(
        _body(U, tools=[{"type": "custom", "custom": {"name": "x"}}]),
        "tools[0].type",
        id="tool-type-not-function",
    ),
    pytest.param(
        _body(U, tools=[WEATHER_TOOL, WEATHER_TOOL]),
        "tools[1].function.name",
        id="duplicate-tool-names",
    ),
    pytest.param(
        _body(U, tools=[{"type": "function", "function": {"name": "f", "parameters": []}}]),
        "tools[0].function.parameters",
        id="tool-parameters-not-an-object",
    ),
    pytest.param(_body(U, tool_choice="sometimes"), "tool_choice", id="tool-choice-unknown"),
    pytest.param(
        _body(U, tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "f"}}),
        "tool_choice.function.name",
        id="tool-choice-names-an-undefined-tool",
    ),
    pytest.param(_body(U, max_tokens=0), "max_tokens", id="max-tokens-zero"),
    pytest.param(_body(U, max_tokens="100"), "max_tokens", id="max-tokens-string"),
    pytest.param(
        _body(U, max_completion_tokens=1.5), "max_completion_tokens", id="max-tokens-float"
    ),
    pytest.param(_body(U, temperature="hot"), "temperature", id="temperature-string"),
    pytest.param(_body(U, top_p=True), "top_p", id="top-p-boolean"),
    pytest.param(_body(U, stop=["a", 1]), "stop", id="stop-list-with-number"),
    pytest.param(_body(U, user=123), "user", id="user-not-a-string"),
]


@pytest.mark.parametrize(("body", "param"), INVALID_REQUESTS)
def test_malformed_request_raises_invalid_request_naming_the_field(body: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat_request_from_openai(body)
    assert caught.value.param == param
    assert caught.value.message.startswith(param)


JUNK = [None, 0, 1.5, True, "x", [], [1], {}, {"type": 1}, [{"type": None}]]
JUNK_SLOTS = [
    "messages",
    "message",
    "role",
    "content",
    "tool_calls",
    "tools",
    "tool_choice",
    "stop",
]


def _with_junk(slot: str, junk: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "x", "tool_calls": [TOOL_CALL]}
    body: dict[str, Any] = {"model": "m", "messages": [U, message], "tools": [WEATHER_TOOL]}
    match slot:
        case "messages":
            body["messages"] = junk
        case "message":
            body["messages"][1] = junk
        case "role" | "content" | "tool_calls":
            message[slot] = junk
        case _:
            body[slot] = junk
    return body


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_with_junk(slot, junk), id=f"{slot}={junk!r}")
        for slot, junk in itertools.product(JUNK_SLOTS, JUNK)
    ],
)
def test_junk_anywhere_is_accepted_or_an_invalid_request_never_a_crash(body: Any) -> None:
    try:
        chat_request_from_openai(body)
    except InvalidRequest as exc:
        assert exc.param


# --- requests: neutral -> OpenAI -------------------------------------------------------------

REQUESTS_TO_OPENAI = [
    pytest.param(
        ChatRequest(model="gpt-4o-mini", messages=(user("Hello!"),)),
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]},
        id="unset-fields-are-omitted",
    ),
    pytest.param(
        ChatRequest(
            model="gpt-4o",
            messages=(
                Message("user", (TextPart("a"), ImagePart(IMAGE_URL, "low"), ImagePart("data:x"))),
            ),
        ),
        {
            "model": "gpt-4o",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "a"},
                        {"type": "image_url", "image_url": {"url": IMAGE_URL, "detail": "low"}},
                        {"type": "image_url", "image_url": {"url": "data:x"}},
                    ],
                }
            ],
        },
        id="several-parts-stay-a-list",
    ),
    pytest.param(
        ChatRequest(
            model="gpt-4o",
            messages=(
                user("weather?"),
                Message("assistant", tool_calls=(NEUTRAL_TOOL_CALL,)),
                Message("tool", (TextPart("22C"),), tool_call_id="call_abc123", name="ignored"),
                Message("user", ()),
            ),
            tools=(ToolDefinition("noop"),),
            tool_choice="noop",
            max_tokens=5,
            temperature=0.2,
            top_p=1.0,
            stop=("x",),
            user="u1",
        ),
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
                {"role": "tool", "content": "22C", "tool_call_id": "call_abc123"},
                {"role": "user", "content": ""},
            ],
            "tools": [{"type": "function", "function": {"name": "noop"}}],
            "tool_choice": {"type": "function", "function": {"name": "noop"}},
            "max_completion_tokens": 5,
            "temperature": 0.2,
            "top_p": 1.0,
            "stop": ["x"],
            "user": "u1",
        },
        id="tool-loop-named-choice-and-all-fields",
    ),
]


@pytest.mark.parametrize(("req", "expected"), REQUESTS_TO_OPENAI)
def test_neutral_request_renders_as_openai_body(req: ChatRequest, expected: dict[str, Any]) -> None:
    assert chat_request_to_openai(req) == expected


def test_max_tokens_field_can_be_the_legacy_name_for_compatible_servers() -> None:
    req = ChatRequest(model="llama3", messages=(user("x"),), max_tokens=7)
    assert chat_request_to_openai(req, max_tokens_field="max_tokens")["max_tokens"] == 7
    assert "max_completion_tokens" not in chat_request_to_openai(req, max_tokens_field="max_tokens")


ROUND_TRIPS = [
    pytest.param({"model": "gpt-4o", "messages": [U]}, id="plain"),
    pytest.param(
        {
            "model": "gpt-4o",
            "messages": TOOL_LOOP,
            "tools": [WEATHER_TOOL],
            "tool_choice": "required",
        },
        id="tool-loop",
    ),
    pytest.param(
        {
            "model": "gpt-4o",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What's in this image?"},
                        {"type": "image_url", "image_url": {"url": IMAGE_URL, "detail": "high"}},
                    ],
                }
            ],
            "max_completion_tokens": 300,
            "stop": ["a", "b"],
        },
        id="vision",
    ),
]


@pytest.mark.parametrize("body", ROUND_TRIPS)
def test_openai_request_survives_a_round_trip_through_neutral(body: dict[str, Any]) -> None:
    assert chat_request_to_openai(chat_request_from_openai(body)) == body


@pytest.mark.parametrize(
    "message",
    [pytest.param(m, id=f"{m.role}-{i}") for i, m in enumerate(NEUTRAL_TOOL_LOOP)],
)
def test_message_round_trips_through_openai_dict(message: Message) -> None:
    assert message_from_openai(message_to_openai(message)) == message


# --- responses -------------------------------------------------------------------------------

TEXT_COMPLETION = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "created": 1677652288,
    "model": "gpt-4o-mini",
    "system_fingerprint": "fp_44709d6fcb",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "\n\nHello there, how may I assist you today?",
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
}
TOOL_CALL_COMPLETION = {
    "id": "chatcmpl-abc123",
    "object": "chat.completion",
    "created": 1699896916,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 82,
        "completion_tokens": 17,
        "total_tokens": 99,
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}
# What openai.types.chat.ChatCompletion.model_dump() gives: every optional field present, None.
SDK_DUMP = {
    **TEXT_COMPLETION,
    "service_tier": None,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "hi",
                "refusal": None,
                "annotations": [],
                "audio": None,
                "function_call": None,
                "tool_calls": None,
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "total_tokens": 3,
        "prompt_tokens_details": None,
    },
}


def _completion(message: dict[str, Any], finish_reason: Any, **fields: Any) -> dict[str, Any]:
    choice = {"index": 0, "message": message, "finish_reason": finish_reason}
    return {"id": "c1", "model": "gpt-4o", "choices": [choice], **fields}


RESPONSES_FROM_OPENAI = [
    pytest.param(
        TEXT_COMPLETION,
        ChatResponse(
            Message("assistant", (TextPart("\n\nHello there, how may I assist you today?"),)),
            "stop",
            Usage(9, 12),
            "gpt-4o-mini",
            "chatcmpl-123",
        ),
        id="text-completion",
    ),
    pytest.param(
        TOOL_CALL_COMPLETION,
        ChatResponse(
            Message("assistant", tool_calls=(NEUTRAL_TOOL_CALL,)),
            "tool_calls",
            Usage(82, 17),
            "gpt-4o-mini",
            "chatcmpl-abc123",
        ),
        id="tool-call-completion",
    ),
    pytest.param(
        SDK_DUMP,
        ChatResponse(
            Message("assistant", (TextPart("hi"),)),
            "stop",
            Usage(1, 2),
            "gpt-4o-mini",
            "chatcmpl-123",
        ),
        id="sdk-model-dump-with-null-fields",
    ),
    pytest.param(
        _completion(
            {"role": "assistant", "content": None, "refusal": "I can't help with that."}, "stop"
        ),
        ChatResponse(
            Message("assistant", (TextPart("I can't help with that."),)),
            "stop",
            Usage(),
            "gpt-4o",
            "c1",
        ),
        id="refusal-becomes-the-text",
    ),
    pytest.param(
        _completion({"role": "assistant", "content": "trunc"}, "length"),
        ChatResponse(Message("assistant", (TextPart("trunc"),)), "length", Usage(), "gpt-4o", "c1"),
        id="length",
    ),
    pytest.param(
        _completion({"role": "assistant", "content": ""}, "content_filter"),
        ChatResponse(Message("assistant"), "content_filter", Usage(), "gpt-4o", "c1"),
        id="content-filter",
    ),
    pytest.param(
        _completion({"content": None, "tool_calls": [TOOL_CALL]}, None),
        ChatResponse(
            Message("assistant", tool_calls=(NEUTRAL_TOOL_CALL,)),
            "tool_calls",
            Usage(),
            "gpt-4o",
            "c1",
        ),
        id="missing-finish-reason-and-role-inferred",
    ),
    pytest.param(
        _completion({"role": "assistant", "content": "x"}, "function_call"),
        ChatResponse(Message("assistant", (TextPart("x"),)), "tool_calls", Usage(), "gpt-4o", "c1"),
        id="legacy-function-call-finish",
    ),
]


@pytest.mark.parametrize(("body", "expected"), RESPONSES_FROM_OPENAI)
def test_openai_completion_parses_to_neutral_response(
    body: dict[str, Any], expected: ChatResponse
) -> None:
    assert chat_response_from_openai(body) == expected


MALFORMED_COMPLETIONS = [
    pytest.param({"id": "x"}, id="no-choices"),
    pytest.param({"choices": []}, id="empty-choices"),
    pytest.param({"choices": [{"finish_reason": "stop"}]}, id="no-message"),
    pytest.param(_completion({"role": "user", "content": 3}, "stop"), id="content-number"),
    pytest.param(
        _completion({"role": "assistant", "tool_calls": {}}, "stop"), id="tool-calls-object"
    ),
    pytest.param(
        _completion({"role": "assistant", "content": "x"}, "stop", usage={"prompt_tokens": -1}),
        id="negative-usage",
    ),
]


@pytest.mark.parametrize("body", MALFORMED_COMPLETIONS)
def test_malformed_completion_is_a_provider_error_not_the_callers_fault(
    body: dict[str, Any],
) -> None:
    with pytest.raises(ProviderUnavailable, match="malformed reply: chat completion: ") as caught:
        chat_response_from_openai(body)
    # The provider's fault, never the caller's: a retryable 502.
    assert (caught.value.status_code, caught.value.retryable) == (502, True)


RESPONSES_TO_OPENAI = [
    pytest.param(
        ChatResponse(
            Message("assistant", (TextPart("Hi"),)), "stop", Usage(3, 4), "claude-x", "msg_1"
        ),
        {"role": "assistant", "content": "Hi"},
        "stop",
        id="text",
    ),
    pytest.param(
        ChatResponse(
            Message("assistant", tool_calls=(NEUTRAL_TOOL_CALL,)),
            "tool_calls",
            Usage(3, 4),
            "claude-x",
        ),
        {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
        "tool_calls",
        id="tool-calls-only-content-is-null",
    ),
    pytest.param(
        ChatResponse(
            Message("assistant", (TextPart("Let me check."),), (NEUTRAL_TOOL_CALL,)),
            "tool_calls",
            Usage(3, 4),
            "m",
        ),
        {"role": "assistant", "content": "Let me check.", "tool_calls": [TOOL_CALL]},
        "tool_calls",
        id="text-beside-tool-calls",
    ),
    pytest.param(
        ChatResponse(Message("assistant"), "length", Usage(3, 4), "m"),
        {"role": "assistant", "content": ""},
        "length",
        id="empty-text-is-an-empty-string",
    ),
]


@pytest.mark.parametrize(("resp", "message", "finish_reason"), RESPONSES_TO_OPENAI)
def test_neutral_response_renders_as_a_full_chat_completion(
    resp: ChatResponse, message: dict[str, Any], finish_reason: str
) -> None:
    body = chat_response_to_openai(resp, response_id="chatcmpl-gw1", created=1700000000)
    assert body == {
        "id": "chatcmpl-gw1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": resp.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }


def test_rendered_completion_reports_the_gateway_model_name_when_given() -> None:
    resp = chat_response_from_openai(TEXT_COMPLETION)
    body = chat_response_to_openai(resp, response_id="r", created=1, model="gpt-4o-mini")
    assert body["model"] == "gpt-4o-mini"


@pytest.mark.parametrize("body", [TEXT_COMPLETION, TOOL_CALL_COMPLETION], ids=["text", "tool-call"])
def test_documented_completion_survives_a_round_trip(body: dict[str, Any]) -> None:
    rendered = chat_response_to_openai(
        chat_response_from_openai(body), response_id=body["id"], created=body["created"]
    )
    expected_message = {k: v for k, v in body["choices"][0]["message"].items()}
    assert rendered["choices"][0]["message"] == expected_message
    assert rendered["usage"] == {
        k: body["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")
    }
    assert (rendered["id"], rendered["model"]) == (body["id"], body["model"])


ENTRY = {"token": "hi", "logprob": -0.25, "bytes": [104, 105], "top_logprobs": []}


def _completion(logprobs: object) -> dict[str, Any]:
    message = {"role": "assistant", "content": "hi"}
    choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": logprobs}
    return {"id": "c", "model": "m", "choices": [choice]}


@pytest.mark.parametrize(
    ("logprobs", "kept"),
    [
        ({"content": [ENTRY], "refusal": None}, {"content": [ENTRY], "refusal": None}),
        (None, None),
        ({"content": None, "refusal": None}, None),
        ({"content": "not a list"}, None),
    ],
    ids=["entries", "null", "no-content", "malformed"],
)
def test_a_choices_logprobs_are_kept_as_they_came(logprobs: object, kept: object) -> None:
    assert chat_response_from_openai(_completion(logprobs)).logprobs == kept


def test_streamed_logprobs_ride_with_their_text_and_assemble_into_the_reply() -> None:
    def chunk(text: str, entries: list[dict[str, Any]] | None, finish: str | None = None) -> Any:
        logprobs = {"content": entries, "refusal": None} if entries is not None else None
        delta = {"content": text} if text else {}
        return {"choices": [{"delta": delta, "logprobs": logprobs, "finish_reason": finish}]}

    second = {**ENTRY, "token": " there"}
    reader, assembler = ChunkReader(), StreamAssembler(model="m")
    events = [
        *reader.feed(chunk("hi", [ENTRY])),
        *reader.feed(chunk(" there", [second])),
        *reader.feed(chunk("", None, "stop")),
    ]
    assert events[:2] == [TextDelta("hi", (ENTRY,)), TextDelta(" there", (second,))]
    for event in [*events, reader.end()]:
        assembler.add(event)
    assert assembler.response().logprobs == {"content": [ENTRY, second], "refusal": None}
