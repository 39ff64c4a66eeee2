"""Neutral types <-> OCI Generative AI chat (GENERIC format), from the documented shapes.

Shapes: the API reference for ``POST /20231130/actions/chat``
(https://docs.oracle.com/en-us/iaas/api/#/en/generative-ai-inference/20231130/ChatResult/Chat),
its ``ChatDetails``, ``GenericChatRequest``, ``GenericChatResponse`` and ``ImageUrl`` data
types (https://docs.oracle.com/en-us/iaas/api/#/en/generative-ai-inference/20231130/datatypes/GenericChatRequest),
whose camelCase names the SDK's ``attribute_map``s repeat.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import InvalidRequest, ProviderError
from providers.oci_format import chat_request_to_oci, chat_response_from_oci, check_oci_request
from providers.openai_format import chat_request_from_openai, chat_response_to_openai
from providers.types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolDefinition,
    Usage,
)

MODEL = "meta.llama-3.3-70b-instruct"
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaexample"
# A 1x1 PNG, as the ImageUrl data type's example: "data:image/png;base64,<content>".
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAC"
    "hwGA60e6kgAAAABJRU5ErkJggg=="
)
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string", "description": "City and state"}},
    "required": ["location"],
}
WEATHER = ToolDefinition("get_weather", "Get the current weather", WEATHER_SCHEMA)
WEATHER_WIRE = {
    "type": "FUNCTION",
    "name": "get_weather",
    "description": "Get the current weather",
    "parameters": WEATHER_SCHEMA,
}
CALL = ToolCall("chatcmpl-tool-1", "get_weather", '{"location": "Austin, TX"}')


def request(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model=MODEL, messages=messages, **fields)


def user(*parts: TextPart | ImagePart) -> Message:
    return Message("user", parts)


def text(value: str) -> dict[str, str]:
    return {"type": "TEXT", "text": value}


def chat_details(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "compartmentId": COMPARTMENT,
        "servingMode": {"servingType": "ON_DEMAND", "modelId": MODEL},
        "chatRequest": {
            "apiFormat": "GENERIC",
            "messages": list(messages),
            "isStream": False,
            **fields,
        },
    }


EMPTY_SCHEMA = {"type": "object", "properties": {}}
HELLO = {"role": "USER", "content": [text("Hello")]}
TOOL_CALL_MESSAGE = {
    "role": "ASSISTANT",
    "content": None,
    "toolCalls": [
        {
            "id": CALL.id,
            "type": "FUNCTION",
            "name": "get_weather",
            "arguments": '{"location": "Austin, TX"}',
        }
    ],
}

REQUESTS_TO_OCI = [
    pytest.param(request(user(TextPart("Hello"))), chat_details(HELLO), id="plain-user-text"),
    pytest.param(
        request(Message("system", (TextPart("You are terse."),)), user(TextPart("Hello"))),
        chat_details({"role": "SYSTEM", "content": [text("You are terse.")]}, HELLO),
        id="system-prompt-is-a-system-message",
    ),
    pytest.param(
        request(user(TextPart("What is in this image?"), ImagePart(PNG, detail="low"))),
        chat_details(
            {
                "role": "USER",
                "content": [
                    text("What is in this image?"),
                    {"type": "IMAGE", "imageUrl": {"url": PNG, "detail": "LOW"}},
                ],
            }
        ),
        id="image-as-data-url-with-upper-case-detail",
    ),
    pytest.param(
        request(
            user(TextPart("Weather in Austin?")),
            Message("assistant", (), (CALL,)),
            Message("tool", (TextPart("31 C, sunny"),), tool_call_id=CALL.id),
            tools=(WEATHER,),
            tool_choice="auto",
        ),
        chat_details(
            {"role": "USER", "content": [text("Weather in Austin?")]},
            TOOL_CALL_MESSAGE,
            {"role": "TOOL", "content": [text("31 C, sunny")], "toolCallId": CALL.id},
            tools=[WEATHER_WIRE],
            toolChoice={"type": "AUTO"},
        ),
        id="tool-round-trip-with-null-content-beside-calls",
    ),
    pytest.param(
        request(user(TextPart("Hello")), tools=(ToolDefinition("now"),), tool_choice="now"),
        chat_details(
            HELLO,
            tools=[{"type": "FUNCTION", "name": "now", "parameters": EMPTY_SCHEMA}],
            toolChoice={"type": "FUNCTION", "name": "now"},
        ),
        id="forced-function-and-parameterless-tool",
    ),
    pytest.param(
        request(user(TextPart("Hello")), tools=(WEATHER,), tool_choice="required"),
        chat_details(
            HELLO,
            tools=[WEATHER_WIRE],
            toolChoice={"type": "REQUIRED"},
        ),
        id="tool-choice-required",
    ),
    pytest.param(
        request(user(TextPart("Hello")), max_tokens=600, temperature=0.2, top_p=0.9, stop=("END",)),
        chat_details(HELLO, maxTokens=600, temperature=0.2, topP=0.9, stop=["END"]),
        id="sampling-parameters",
    ),
]


@pytest.mark.parametrize(("req", "expected"), REQUESTS_TO_OCI)
def test_chat_request_maps_to_documented_chat_details(
    req: ChatRequest, expected: dict[str, Any]
) -> None:
    assert chat_request_to_oci(req, compartment_id=COMPARTMENT) == expected


def test_dedicated_endpoint_ocid_uses_dedicated_serving_mode() -> None:
    endpoint = "ocid1.generativeaiendpoint.oc1.us-chicago-1.amaaaaexample"
    req = ChatRequest(model=endpoint, messages=(user(TextPart("Hello")),))
    body = chat_request_to_oci(req, compartment_id=COMPARTMENT)
    assert body["servingMode"] == {"servingType": "DEDICATED", "endpointId": endpoint}


@pytest.mark.parametrize(
    ("req", "param"),
    [
        pytest.param(
            ChatRequest(model="cohere.command-r-plus-08-2024", messages=(user(TextPart("Hi")),)),
            "model",
            id="cohere-models-need-the-cohere-format",
        ),
        pytest.param(
            request(user(TextPart("Look"), ImagePart("https://example.com/cat.png"))),
            "messages[0].content[1]",
            id="image-links-are-not-carried",
        ),
    ],
)
def test_check_refuses_what_generic_cannot_carry(req: ChatRequest, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_oci_request(req)
    assert caught.value.param == param


def chat_result(message: dict[str, Any], finish: str | None = "stop", **extra: Any) -> dict:
    choice: dict[str, Any] = {"index": 0, "message": message}
    if finish is not None:
        choice["finishReason"] = finish
    return {
        "modelId": MODEL,
        "modelVersion": "1.0.0",
        "chatResponse": {
            "apiFormat": "GENERIC",
            "timeCreated": "2025-01-15T18:31:05.123Z",
            "choices": [choice],
            **extra,
        },
    }


NO_USAGE = Usage()
USAGE = {"usage": {"promptTokens": 21, "completionTokens": 9, "totalTokens": 30}}
GREETING = "Hello! How can I help?"
ASSISTANT_TEXT = {"role": "ASSISTANT", "content": [text(GREETING)]}


def answer(reply: str | ToolCall, finish: FinishReason, usage: Usage = NO_USAGE) -> ChatResponse:
    if isinstance(reply, ToolCall):
        message = Message("assistant", (), (reply,))
    else:
        message = Message("assistant", (TextPart(reply),) if reply else ())
    return ChatResponse(message, finish, usage, MODEL, "req-1")


RESPONSES_FROM_OCI = [
    pytest.param(
        chat_result(ASSISTANT_TEXT, **USAGE),
        answer(GREETING, "stop", Usage(21, 9)),
        id="text-reply-with-usage",
    ),
    pytest.param(
        chat_result(TOOL_CALL_MESSAGE, "tool_calls", **USAGE),
        answer(CALL, "tool_calls", Usage(21, 9)),
        id="tool-calls-with-null-content",
    ),
    pytest.param(
        chat_result(ASSISTANT_TEXT, "length"), answer(GREETING, "length"), id="length-no-usage"
    ),
    pytest.param(
        chat_result(ASSISTANT_TEXT, "MAX_TOKENS"),
        answer(GREETING, "length"),
        id="cohere-style-reasons-case-insensitive",
    ),
    pytest.param(
        chat_result({"role": "ASSISTANT", "content": [text("")]}, "content_filter"),
        answer("", "content_filter"),
        id="content-filter",
    ),
    pytest.param(
        chat_result(ASSISTANT_TEXT, "something_new"), answer(GREETING, "stop"), id="unknown"
    ),
]


@pytest.mark.parametrize(("body", "expected"), RESPONSES_FROM_OCI)
def test_documented_chat_result_maps_to_chat_response(
    body: dict[str, Any], expected: ChatResponse
) -> None:
    assert chat_response_from_oci(body, request_id="req-1") == expected


def test_tool_call_without_id_gets_a_stable_synthetic_one() -> None:
    call = {"type": "FUNCTION", "name": "get_weather", "arguments": "{}"}
    body = chat_result({"role": "ASSISTANT", "toolCalls": [call]}, None)
    first, again = (chat_response_from_oci(body).message.tool_calls[0] for _ in range(2))
    assert first.id.startswith("call_")
    assert first.id == again.id
    assert chat_response_from_oci(body).finish_reason == "tool_calls"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"modelId": MODEL}, id="no-chat-response"),
        pytest.param(
            {"chatResponse": {"apiFormat": "COHERE", "text": "hi"}}, id="cohere-format-reply"
        ),
        pytest.param({"chatResponse": {"apiFormat": "GENERIC", "choices": []}}, id="no-choices"),
        pytest.param(
            chat_result({"role": "ASSISTANT", "toolCalls": {"name": "x"}}), id="tool-calls-object"
        ),
        pytest.param(chat_result({"role": "ASSISTANT", "content": "hi"}), id="content-string"),
    ],
)
def test_malformed_chat_result_is_a_provider_error(body: dict[str, Any]) -> None:
    # A result in another api format than the GENERIC one asked for is not retried.
    with pytest.raises(ProviderError, match=r"(malformed reply: OCI chat result|OCI chat format)"):
        chat_response_from_oci(body)


def test_openai_request_and_reply_round_trip_through_oci() -> None:
    system, question = {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}
    req = chat_request_from_openai({"model": MODEL, "messages": [system, question]})
    chat = chat_request_to_oci(req, compartment_id=COMPARTMENT)["chatRequest"]
    assert [(m["role"], m["content"]) for m in chat["messages"]] == [
        ("SYSTEM", [text("Be brief.")]),
        ("USER", [text("Hi")]),
    ]
    body = chat_result(ASSISTANT_TEXT, **USAGE)
    reply = chat_response_to_openai(chat_response_from_oci(body), response_id="x", created=0)
    assert reply["choices"][0]["message"]["content"] == GREETING
    assert reply["usage"] == {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def _ask(**fields: Any) -> ChatRequest:
    return ChatRequest(
        model="meta.llama-3.3-70b-instruct",
        messages=(Message("user", (TextPart("hi"),)),),
        **fields,
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"response_format": ResponseFormat("json_object")},
            {"responseFormat": {"type": "JSON_OBJECT"}},
        ),
        (
            {"response_format": ResponseFormat("json_schema", "w", SCHEMA, True, "about")},
            {
                "responseFormat": {
                    "type": "JSON_SCHEMA",
                    "jsonSchema": {
                        "name": "w",
                        "isStrict": True,
                        "schema": SCHEMA,
                        "description": "about",
                    },
                }
            },
        ),
        ({"seed": 7, "logit_bias": {"5": 3}}, {"seed": 7, "logitBias": {"5": 3}}),
        (
            {"presence_penalty": 0.5, "frequency_penalty": -1.0},
            {"presencePenalty": 0.5, "frequencyPenalty": -1.0},
        ),
        ({"parallel_tool_calls": False}, {"isParallelToolCalls": False}),
        ({"metadata": {"team": "a"}}, {"metadata": {"team": "a"}}),
        ({"reasoning_effort": "minimal"}, {"reasoningEffort": "MINIMAL"}),
    ],
)
def test_openai_parameters_map_to_generic_camel_case(
    fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    chat = chat_request_to_oci(_ask(**fields), compartment_id="c")["chatRequest"]
    assert {k: chat[k] for k in expected} == expected


def test_a_reasoning_effort_oci_lacks_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_oci_request(_ask(reasoning_effort="xhigh"))
    assert caught.value.param == "reasoning_effort"
