"""Neutral types <-> Bedrock Converse, table-driven from the documented shapes.

Request and response shapes follow the Converse API reference
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html) and the
tool-use walkthrough with its ``top_song`` example
(https://docs.aws.amazon.com/bedrock/latest/userguide/tool-use-inference-call.html).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from gateway.errors import CapabilityMissing, InvalidRequest, ProviderError
from providers.bedrock_format import (
    check_converse_request,
    from_converse_response,
    to_converse_request,
)
from providers.types import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolDefinition,
    Usage,
)

MODEL = "meta.llama3-3-70b-instruct-v1:0"
TOP_SONG_SCHEMA = {
    "type": "object",
    "properties": {
        "sign": {
            "type": "string",
            "description": "The call sign for the radio station for which you want the most "
            "popular song. Example calls signs are WZPZ and WKRP.",
        }
    },
    "required": ["sign"],
}
TOP_SONG = ToolDefinition(
    "top_song", "Get the most popular song played on a radio station.", TOP_SONG_SCHEMA
)
TOP_SONG_SPEC = {
    "toolSpec": {
        "name": "top_song",
        "description": "Get the most popular song played on a radio station.",
        "inputSchema": {"json": TOP_SONG_SCHEMA},
    }
}
CALL_ID = "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"
CALL = ToolCall(CALL_ID, "top_song", '{"sign": "WZPZ"}')
TOOL_USE = {"toolUse": {"toolUseId": CALL_ID, "name": "top_song", "input": {"sign": "WZPZ"}}}
SONG = '{"song": "Elemental Hotel", "artist": "8 Storey Hike"}'
QUESTION = "What is the most popular song on WZPZ?"
PNG = b"\x89PNG\r\n\x1a\n-not-really-a-png"
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def user(*parts: TextPart | ImagePart) -> Message:
    return Message("user", parts)


def text(value: str) -> TextPart:
    return TextPart(value)


def request(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model=MODEL, messages=messages, **fields)


def result(content: str, call_id: str = CALL_ID) -> Message:
    return Message("tool", (TextPart(content),), tool_call_id=call_id)


def wire(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"modelId": MODEL, "messages": list(messages), **fields}


def wire_user(*content: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(content)}


def wire_result(content: str, call_id: str = CALL_ID) -> dict[str, Any]:
    return {"toolResult": {"toolUseId": call_id, "content": [{"text": content}]}}


REQUESTS: list[tuple[str, ChatRequest, dict[str, Any]]] = [
    (
        "plain user message",
        request(user(text(QUESTION))),
        wire(wire_user({"text": QUESTION})),
    ),
    (
        "system prompts join into the top-level system list",
        request(
            Message("system", (text("Be terse."),)),
            Message("system", (text("Be kind."),)),
            user(text("hi")),
        ),
        wire(wire_user({"text": "hi"}), system=[{"text": "Be terse.\n\nBe kind."}]),
    ),
    (
        "sampling parameters go to inferenceConfig",
        request(user(text("hi")), max_tokens=512, temperature=0.5, top_p=0.9, stop=("END",)),
        wire(
            wire_user({"text": "hi"}),
            inferenceConfig={
                "maxTokens": 512,
                "temperature": 0.5,
                "topP": 0.9,
                "stopSequences": ["END"],
            },
        ),
    ),
    (
        "a data: URL image becomes raw bytes with its format",
        request(user(text("what is this?"), ImagePart(PNG_URL))),
        wire(
            wire_user(
                {"text": "what is this?"},
                {"image": {"format": "png", "source": {"bytes": PNG}}},
            )
        ),
    ),
    (
        "image/jpg is sent as jpeg",
        request(user(ImagePart("data:image/jpg;base64," + base64.b64encode(PNG).decode()))),
        wire(wire_user({"image": {"format": "jpeg", "source": {"bytes": PNG}}})),
    ),
    (
        "tool definitions become toolSpecs",
        request(user(text(QUESTION)), tools=(TOP_SONG,)),
        wire(wire_user({"text": QUESTION}), toolConfig={"tools": [TOP_SONG_SPEC]}),
    ),
    (
        "a tool without parameters gets an empty object schema and no description",
        request(user(text("hi")), tools=(ToolDefinition("now"),)),
        wire(
            wire_user({"text": "hi"}),
            toolConfig={
                "tools": [
                    {
                        "toolSpec": {
                            "name": "now",
                            "inputSchema": {"json": {"type": "object", "properties": {}}},
                        }
                    }
                ]
            },
        ),
    ),
    (
        "tool round trip: toolUse in the assistant turn, toolResult in a user turn",
        request(
            user(text(QUESTION)),
            Message("assistant", tool_calls=(CALL,)),
            result(SONG),
            tools=(TOP_SONG,),
        ),
        wire(
            wire_user({"text": QUESTION}),
            {"role": "assistant", "content": [TOOL_USE]},
            wire_user(wire_result(SONG)),
            toolConfig={"tools": [TOP_SONG_SPEC]},
        ),
    ),
    (
        "consecutive tool results and a following user message merge into one user turn",
        request(
            user(text(QUESTION)),
            Message(
                "assistant",
                (text("Checking both."),),
                tool_calls=(CALL, ToolCall("tooluse_2", "top_song", '{"sign": "WKRP"}')),
            ),
            result(SONG),
            result("not found", "tooluse_2"),
            user(text("Thanks!")),
            tools=(TOP_SONG,),
        ),
        wire(
            wire_user({"text": QUESTION}),
            {
                "role": "assistant",
                "content": [
                    {"text": "Checking both."},
                    TOOL_USE,
                    {
                        "toolUse": {
                            "toolUseId": "tooluse_2",
                            "name": "top_song",
                            "input": {"sign": "WKRP"},
                        }
                    },
                ],
            },
            wire_user(
                wire_result(SONG), wire_result("not found", "tooluse_2"), {"text": "Thanks!"}
            ),
            toolConfig={"tools": [TOP_SONG_SPEC]},
        ),
    ),
    (
        "consecutive user messages merge; empty text parts are dropped",
        request(user(text("one"), text("")), user(text("two"))),
        wire(wire_user({"text": "one"}, {"text": "two"})),
    ),
    (
        "an empty tool result still sends a non-blank text block",
        request(
            user(text(QUESTION)),
            Message("assistant", tool_calls=(CALL,)),
            result(""),
            tools=(TOP_SONG,),
        ),
        wire(
            wire_user({"text": QUESTION}),
            {"role": "assistant", "content": [TOOL_USE]},
            wire_user(wire_result("(no output)")),
            toolConfig={"tools": [TOP_SONG_SPEC]},
        ),
    ),
]


@pytest.mark.parametrize(
    ("req", "expected"), [r[1:] for r in REQUESTS], ids=[r[0] for r in REQUESTS]
)
def test_neutral_request_maps_to_converse_kwargs(
    req: ChatRequest, expected: dict[str, Any]
) -> None:
    assert to_converse_request(req) == expected


@pytest.mark.parametrize(
    ("choice", "tool_choice"),
    [
        (None, None),
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ("top_song", {"tool": {"name": "top_song"}}),
    ],
)
def test_tool_choice_maps_to_converse_tool_choice(
    choice: str | None, tool_choice: dict[str, Any] | None
) -> None:
    body = to_converse_request(request(user(text("hi")), tools=(TOP_SONG,), tool_choice=choice))
    assert body["toolConfig"].get("toolChoice") == tool_choice


def test_tool_choice_none_without_tool_history_omits_tool_config() -> None:
    body = to_converse_request(request(user(text("hi")), tools=(TOP_SONG,), tool_choice="none"))
    assert "toolConfig" not in body


@pytest.mark.parametrize(("tools", "choice"), [((TOP_SONG,), "none"), ((), None)])
def test_tool_history_without_offered_tools_declares_the_used_tools_as_unavailable(
    tools: tuple[ToolDefinition, ...], choice: str | None
) -> None:
    # Converse refuses toolUse/toolResult blocks without a toolConfig, and has no "none".
    req = request(
        user(text(QUESTION)),
        Message("assistant", tool_calls=(CALL,)),
        result(SONG),
        tools=tools,
        tool_choice=choice,
    )
    spec = to_converse_request(req)["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["name"] == "top_song"
    assert "do not call" in spec["description"]
    assert spec["inputSchema"] == {"json": {"type": "object", "properties": {}}}


@pytest.mark.parametrize(
    ("req", "param"),
    [
        (
            request(user(ImagePart("https://example.com/cat.png"))),
            "messages[0].content[0].image_url.url",
        ),
        (
            request(user(ImagePart("data:image/bmp;base64,AAAA"))),
            "messages[0].content[0].image_url.url",
        ),
        (
            request(user(ImagePart("data:image/png;base64,@@@"))),
            "messages[0].content[0].image_url.url",
        ),
        (
            request(
                user(text("hi")), Message("assistant", tool_calls=(ToolCall("t", "f", "{oops"),))
            ),
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            request(
                user(text("hi")), Message("assistant", tool_calls=(ToolCall("t", "f", "[1]"),))
            ),
            "messages[1].tool_calls[0].function.arguments",
        ),
        (request(user(text("hi")), Message("tool", (text("x"),))), "messages[1].tool_call_id"),
        (request(user(text(""))), "messages[0]"),
        (request(user(text("hi")), temperature=1.5), "temperature"),
    ],
    ids=[
        "remote image url",
        "unsupported image type",
        "invalid base64",
        "tool arguments not json",
        "tool arguments not an object",
        "tool result without id",
        "message without content",
        "temperature above 1",
    ],
)
def test_what_converse_cannot_carry_is_an_invalid_request(req: ChatRequest, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_converse_request(req)
    assert caught.value.param == param


def test_empty_tool_arguments_become_an_empty_input_object() -> None:
    call = ToolCall(CALL_ID, "top_song", "")
    body = to_converse_request(request(user(text("hi")), Message("assistant", tool_calls=(call,))))
    assert body["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": CALL_ID, "name": "top_song", "input": {}}}
    ]


# --- responses -------------------------------------------------------------------------------

METADATA = {"RequestId": "5d3a1a9e-7c1b-4d8e-9f3c-1a2b3c4d5e6f", "HTTPStatusCode": 200}
RESPONSES: list[tuple[str, dict[str, Any], str, tuple[ToolCall, ...], str, Usage]] = [
    (
        "text answer",
        {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [{"text": "The most popular song on WZPZ is Elemental Hotel."}],
                }
            },
            "stopReason": "end_turn",
            "usage": {"inputTokens": 125, "outputTokens": 60, "totalTokens": 185},
            "metrics": {"latencyMs": 1175},
            "ResponseMetadata": METADATA,
        },
        "The most popular song on WZPZ is Elemental Hotel.",
        (),
        "stop",
        Usage(125, 60),
    ),
    (
        "tool use request with preamble text",
        {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [{"text": "Let me look that up."}, TOOL_USE],
                }
            },
            "stopReason": "tool_use",
            "usage": {"inputTokens": 375, "outputTokens": 57, "totalTokens": 432},
            "metrics": {"latencyMs": 1254},
            "ResponseMetadata": METADATA,
        },
        "Let me look that up.",
        (ToolCall(CALL_ID, "top_song", '{"sign":"WZPZ"}'),),
        "tool_calls",
        Usage(375, 57),
    ),
    (
        "prompt cache reads and writes count as prompt tokens; reasoning is dropped",
        {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [
                        {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s"}}},
                        {"text": "ok"},
                    ],
                }
            },
            "stopReason": "max_tokens",
            "usage": {
                "inputTokens": 10,
                "outputTokens": 5,
                "totalTokens": 45,
                "cacheReadInputTokens": 20,
                "cacheWriteInputTokens": 10,
            },
            "ResponseMetadata": METADATA,
        },
        "ok",
        (),
        "length",
        Usage(40, 5),
    ),
]


@pytest.mark.parametrize(
    ("body", "text_out", "calls", "finish", "usage"),
    [r[1:] for r in RESPONSES],
    ids=[r[0] for r in RESPONSES],
)
def test_converse_response_parses_to_neutral_response(
    body: dict[str, Any], text_out: str, calls: tuple[ToolCall, ...], finish: str, usage: Usage
) -> None:
    response = from_converse_response(body, model=MODEL)
    assert response.message.text == text_out
    assert response.message.tool_calls == calls
    assert (response.finish_reason, response.usage, response.model) == (finish, usage, MODEL)
    assert response.provider_response_id == METADATA["RequestId"]


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("tool_use", "tool_calls"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        (None, "stop"),
    ],
)
def test_stop_reason_maps_to_finish_reason(stop_reason: str | None, finish: str) -> None:
    body = {"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}}
    assert from_converse_response({**body, "stopReason": stop_reason}).finish_reason == finish


@pytest.mark.parametrize(
    ("body", "retryable", "match"),
    [
        ({"output": {}}, True, "malformed reply: .*output.message.content is missing"),
        (
            {"output": {"message": {"role": "assistant", "content": [{"video": {}}]}}},
            False,
            "unsupported content block 'video'",
        ),
        (
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
                "stopReason": "malformed_tool_use",
            },
            False,
            r"unusable output \(malformed_tool_use\)",
        ),
    ],
    ids=["no message", "unsupported block", "malformed model output"],
)
def test_unusable_converse_responses_are_provider_errors(
    body: dict[str, Any], retryable: bool, match: str
) -> None:
    with pytest.raises(ProviderError, match=match) as caught:
        from_converse_response(body)
    # A malformed answer is the provider's passing fault (retried); the others are not.
    assert caught.value.retryable is retryable


def test_a_response_tool_use_feeds_back_as_the_identical_tool_use_block() -> None:
    response = from_converse_response(RESPONSES[1][1])
    follow_up = request(user(text(QUESTION)), response.message, result(SONG), tools=(TOP_SONG,))
    assert to_converse_request(follow_up)["messages"][1] == {
        "role": "assistant",
        "content": [{"text": "Let me look that up."}, TOOL_USE],
    }


# --- OpenAI's other parameters ---------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_a_json_schema_is_converse_structured_output_with_the_schema_as_text() -> None:
    fmt = ResponseFormat("json_schema", name="city", schema=SCHEMA, description="A city.")
    body = to_converse_request(request(user(text("x")), response_format=fmt))
    definition = {"schema": json.dumps(SCHEMA), "name": "city", "description": "A city."}
    assert body["outputConfig"] == {
        "textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}
    }


def test_json_mode_forces_the_output_tool_and_keeps_the_historys_tools_declared() -> None:
    req = request(
        user(text(QUESTION)),
        Message("assistant", tool_calls=(CALL,)),
        result(SONG),
        response_format=ResponseFormat("json_object"),
    )
    config = to_converse_request(req)["toolConfig"]
    assert [t["toolSpec"]["name"] for t in config["tools"]] == ["json_output", "top_song"]
    assert config["toolChoice"] == {"tool": {"name": "json_output"}}


def test_json_mode_beside_the_callers_tools_is_refused() -> None:
    req = request(user(text("x")), tools=(TOP_SONG,), response_format=ResponseFormat("json_object"))
    with pytest.raises(CapabilityMissing) as caught:
        to_converse_request(req)
    assert caught.value.param == "response_format"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"reasoning_effort": "minimal"}, {"outputConfig": {"effort": "low"}}, id="effort"
        ),
        pytest.param(
            {"service_tier": "priority"}, {"serviceTier": {"type": "priority"}}, id="tier"
        ),
        pytest.param({"service_tier": "auto"}, {}, id="auto-tier-is-bedrocks-own-choice"),
        pytest.param(
            {"metadata": {"team": "search", "run": "a/b:1"}},
            {"requestMetadata": {"team": "search", "run": "a/b:1"}},
            id="metadata",
        ),
    ],
)
def test_other_parameters_map_to_converse_fields(
    fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = to_converse_request(request(user(text("x")), **fields))
    assert {k: v for k, v in body.items() if k not in ("modelId", "messages")} == expected


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        pytest.param({"service_tier": "scale"}, "service_tier", id="scale-tier"),
        pytest.param({"reasoning_effort": "none"}, "reasoning_effort", id="no-effort"),
        pytest.param({"metadata": {"team": "naïve"}}, "metadata", id="metadata-characters"),
        pytest.param({"metadata": {"team": "x" * 300}}, "metadata", id="metadata-too-long"),
    ],
)
def test_values_converse_has_no_counterpart_for_are_refused(
    fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(CapabilityMissing) as caught:
        to_converse_request(request(user(text("x")), **fields))
    assert caught.value.param == param
