"""The Vertex AI Gemini wire mapping, both directions, on payloads shaped like Google's docs.

Request body: https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.publishers.models/generateContent
Function calling: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/function-calling
Schema: https://cloud.google.com/vertex-ai/docs/reference/rest/v1/Schema
Response: https://cloud.google.com/vertex-ai/docs/reference/rest/v1/GenerateContentResponse
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from gateway.errors import CapabilityMissing, InvalidRequest
from providers.types import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolDefinition,
)
from providers.vertex_format import (
    check_gemini_request,
    gemini_request,
)

MODEL = "gemini-2.5-flash"
# The function-calling reference's example declaration.
WEATHER = ToolDefinition(
    "get_current_weather",
    "Get the current weather in a given location",
    {
        "type": "object",
        "properties": {
            "location": {
                "type": "string",
                "description": "The city name of the location for which to get the weather.",
            }
        },
        "required": ["location"],
    },
)
WEATHER_WIRE = {
    "name": "get_current_weather",
    "description": "Get the current weather in a given location",
    "parameters": {
        "type": "OBJECT",
        "properties": {
            "location": {
                "type": "STRING",
                "description": "The city name of the location for which to get the weather.",
            }
        },
        "required": ["location"],
    },
}
ASK = Message("user", (TextPart("What is the weather in Boston?"),))
ASK_WIRE = {"role": "user", "parts": [{"text": "What is the weather in Boston?"}]}
CALL = ToolCall("call_1", "get_current_weather", '{"location": "Boston"}')
CALL_WIRE: dict[str, Any] = {
    "role": "model",
    "parts": [{"functionCall": {"name": "get_current_weather", "args": {"location": "Boston"}}}],
}


def result(text: str, call_id: str = "call_1") -> Message:
    return Message("tool", (TextPart(text),), tool_call_id=call_id)


def response_part(response: dict[str, Any]) -> dict[str, Any]:
    return {"functionResponse": {"name": "get_current_weather", "response": response}}


def wire(req: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(gemini_request(req)))  # plain JSON
    return body


REQUESTS: list[tuple[str, ChatRequest, dict[str, Any]]] = [
    ("plain", ChatRequest(MODEL, (ASK,)), {"contents": [ASK_WIRE]}),
    (
        "system prompt becomes systemInstruction",
        ChatRequest(MODEL, (Message("system", (TextPart("Be terse."),)), ASK)),
        {"systemInstruction": {"parts": [{"text": "Be terse."}]}, "contents": [ASK_WIRE]},
    ),
    (
        "generation config",
        ChatRequest(MODEL, (ASK,), max_tokens=64, temperature=0.2, top_p=0.9, stop=("END",)),
        {
            "contents": [ASK_WIRE],
            "generationConfig": {
                "maxOutputTokens": 64,
                "temperature": 0.2,
                "topP": 0.9,
                "stopSequences": ["END"],
            },
        },
    ),
    (
        "tool declaration and auto mode",
        ChatRequest(MODEL, (ASK,), tools=(WEATHER,), tool_choice="auto"),
        {
            "contents": [ASK_WIRE],
            "tools": [{"functionDeclarations": [WEATHER_WIRE]}],
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        },
    ),
    (
        "tool call round trip: a JSON object result is the response",
        ChatRequest(MODEL, (ASK, Message("assistant", tool_calls=(CALL,)), result('{"temp": 20}'))),
        {
            "contents": [
                ASK_WIRE,
                CALL_WIRE,
                {"role": "user", "parts": [response_part({"temp": 20})]},
            ]
        },
    ),
    (
        "plain-text tool result goes under output; consecutive results share a user turn",
        ChatRequest(
            MODEL,
            (
                ASK,
                Message("assistant", tool_calls=(CALL, dataclasses.replace(CALL, id="call_2"))),
                result("20C"),
                result("[1, 2]", "call_2"),
            ),
        ),
        {
            "contents": [
                ASK_WIRE,
                {"role": "model", "parts": CALL_WIRE["parts"] * 2},
                {
                    "role": "user",
                    "parts": [
                        response_part({"output": "20C"}),
                        response_part({"output": "[1, 2]"}),
                    ],
                },
            ]
        },
    ),
    (
        "images: data URL inline, https and gs URLs as fileData",
        ChatRequest(
            MODEL,
            (
                Message(
                    "user",
                    (
                        TextPart("Compare"),
                        ImagePart("data:image/png;base64,iVBORw0KGgo="),
                        ImagePart("https://example.com/cat.png"),
                        ImagePart("gs://cloud-samples-data/generative-ai/image/scones.jpg"),
                    ),
                ),
            ),
        ),
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "Compare"},
                        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                        {
                            "fileData": {
                                "mimeType": "image/png",
                                "fileUri": "https://example.com/cat.png",
                            }
                        },
                        {
                            "fileData": {
                                "mimeType": "image/jpeg",
                                "fileUri": "gs://cloud-samples-data/generative-ai/image/scones.jpg",
                            }
                        },
                    ],
                }
            ]
        },
    ),
]


def named_tool(choice: str) -> dict[str, Any]:
    config: dict[str, Any] = wire(ChatRequest(MODEL, (ASK,), tools=(WEATHER,), tool_choice=choice))[
        "toolConfig"
    ]
    return config


@pytest.mark.parametrize(("name", "request_", "expected"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_requests_map_to_the_documented_generate_content_body(
    name: str, request_: ChatRequest, expected: dict[str, Any]
) -> None:
    assert wire(request_) == expected
    check_gemini_request(request_)  # the check accepts whatever maps


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ("get_current_weather", {"mode": "ANY", "allowedFunctionNames": ["get_current_weather"]}),
    ],
)
def test_tool_choice_maps_to_function_calling_modes(choice: str, config: dict[str, Any]) -> None:
    assert named_tool(choice) == {"functionCallingConfig": config}


def test_tool_choice_without_tools_sends_no_tool_config() -> None:
    assert "toolConfig" not in wire(ChatRequest(MODEL, (ASK,), tool_choice="none"))


FAILURES: list[tuple[str, ChatRequest, str]] = [
    (
        "a tool result for an unknown call",
        ChatRequest(MODEL, (ASK, result("x", "call_404"))),
        "messages[1].tool_call_id",
    ),
    (
        "tool call arguments that are not JSON",
        ChatRequest(MODEL, (ASK, Message("assistant", tool_calls=(ToolCall("c", "f", "{"),)))),
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        "an http image URL",
        ChatRequest(MODEL, (Message("user", (ImagePart("http://example.com/a.png"),)),)),
        "messages[0].content[0].image_url.url",
    ),
    (
        "a recursive schema",
        ChatRequest(
            MODEL,
            (ASK,),
            tools=(
                ToolDefinition(
                    "tree",
                    "",
                    {
                        "type": "object",
                        "$defs": {
                            "Node": {
                                "type": "object",
                                "properties": {"kids": {"$ref": "#/$defs/Node"}},
                            }
                        },
                        "properties": {"root": {"$ref": "#/$defs/Node"}},
                    },
                ),
            ),
        ),
        "tools[0].function.parameters.properties.root.properties.kids",
    ),
    (
        "only a system prompt",
        ChatRequest(MODEL, (Message("system", (TextPart("x"),)),)),
        "messages",
    ),
]


@pytest.mark.parametrize(("name", "request_", "param"), FAILURES, ids=[f[0] for f in FAILURES])
def test_what_gemini_cannot_carry_is_refused_naming_the_field(
    name: str, request_: ChatRequest, param: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_gemini_request(request_)
    assert caught.value.param == param


# --- OpenAI's other parameters ---------------------------------------------------------------


def generation(**fields: Any) -> dict[str, Any]:
    body = gemini_request(ChatRequest(model=MODEL, messages=(ASK,), **fields))
    config: dict[str, Any] = body["generationConfig"]
    return config


def test_json_mode_is_the_json_mime_type() -> None:
    assert generation(response_format=ResponseFormat("json_object")) == {
        "responseMimeType": "application/json"
    }


def test_a_json_schema_is_a_response_schema_in_geminis_subset() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": ["string", "null"]}},
        "required": ["city"],
        "additionalProperties": False,
    }
    fmt = ResponseFormat("json_schema", name="c", schema=schema, strict=True)
    assert generation(response_format=fmt) == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {"city": {"type": "STRING", "nullable": True}},
            "required": ["city"],
        },
    }


def test_seed_and_penalties_are_generation_config_fields() -> None:
    assert generation(seed=7, presence_penalty=0.5, frequency_penalty=-1.0) == {
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": -1.0,
    }


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0}),
        ("gemini-2.5-pro", "medium", {"thinkingBudget": 8192}),
        ("gemini-2.5-pro", "high", {"thinkingBudget": 24576}),
        ("gemini-3-pro-preview", "low", {"thinkingLevel": "low"}),
        ("gemini-3-flash", "none", {"thinkingLevel": "minimal"}),
    ],
)
def test_reasoning_effort_is_a_budget_for_gemini_2_and_a_level_after(
    model: str, effort: str, expected: dict[str, Any]
) -> None:
    request = ChatRequest(model=model, messages=(ASK,), reasoning_effort=effort)
    assert gemini_request(request)["generationConfig"] == {"thinkingConfig": expected}


def test_metadata_is_labels() -> None:
    labels = {"team": "search", "run-id": "a_1"}
    assert (
        gemini_request(ChatRequest(model=MODEL, messages=(ASK,), metadata=labels))["labels"]
        == labels
    )


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        pytest.param({"metadata": {"Team": "a"}}, "metadata", id="uppercase-label-key"),
        pytest.param({"metadata": {"team": "A b"}}, "metadata", id="label-value-characters"),
        pytest.param({"metadata": {"1team": "a"}}, "metadata", id="label-key-not-a-letter"),
        pytest.param({"reasoning_effort": "xhigh"}, "reasoning_effort", id="xhigh-on-gemini-2"),
    ],
)
def test_values_vertex_cannot_take_are_refused(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(CapabilityMissing) as caught:
        gemini_request(ChatRequest(model=MODEL, messages=(ASK,), **fields))
    assert caught.value.param == param


def test_a_recursive_response_schema_is_an_invalid_request() -> None:
    schema = {"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}}}
    fmt = ResponseFormat("json_schema", name="n", schema={**schema, "$ref": "#/$defs/n"})
    with pytest.raises(InvalidRequest) as caught:
        gemini_request(ChatRequest(model=MODEL, messages=(ASK,), response_format=fmt))
    assert caught.value.param == "response_format.json_schema.schema.properties.next"
