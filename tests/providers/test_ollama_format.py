"""Neutral types <-> Ollama's chat API, with payloads shaped like its documentation:
https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion and
https://docs.ollama.com/capabilities/tool-calling (tool results name their tool)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import InvalidRequest, ProviderUnavailable
from providers.ollama_format import (
    chat_request_to_ollama,
    chat_response_from_ollama,
    check_ollama_request,
)
from providers.types import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    ResponseFormat,
    Role,
    TextPart,
    ToolCall,
    ToolDefinition,
    Usage,
)

# A 1x1 PNG (the docs use a larger llava example of the same kind).
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6"
    "kgAAAABJRU5ErkJggg=="
)
# The docs' "Chat request (with tools)" example.
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "The location to get the weather for"},
        "format": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location", "format"],
}
WEATHER_TOOL = ToolDefinition("get_current_weather", "Get the current weather", WEATHER_SCHEMA)
WEATHER_FUNCTION = {"name": WEATHER_TOOL.name, "description": WEATHER_TOOL.description}
WEATHER_WIRE = {"type": "function", "function": WEATHER_FUNCTION | {"parameters": WEATHER_SCHEMA}}
PARIS_ARGS = {"format": "celsius", "location": "Paris, FR"}
PARIS_CALL = ToolCall("call_0", "get_current_weather", json.dumps(PARIS_ARGS))
# What the ollama package's request models would cut down to {"type": "object"} leaves.
NESTED_SCHEMA = {
    "type": "object",
    "properties": {
        "to": {"type": "object", "properties": {"zip": {"type": "string", "pattern": "^\\d+$"}}},
        "count": {"type": "integer", "minimum": 1, "default": 1},
    },
    "additionalProperties": False,
}
EMPTY_SCHEMA = {"type": "object", "properties": {}}
SKY, PARIS = "why is the sky blue?", "What is the weather today in Paris?"


def text(role: Role, value: str) -> Message:
    return Message(role, (TextPart(value),))


def result(value: str, call_id: str) -> Message:
    return Message("tool", (TextPart(value),), tool_call_id=call_id)


def calling(*calls: ToolCall) -> Message:
    return Message("assistant", tool_calls=calls)


def request(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model="llama3.2", messages=messages, **fields)


def msg(role: str, content: str, **fields: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **fields}


def wire_calls(*calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """An assistant message calling tools, as Ollama's chat API carries it."""
    functions = [{"function": {"name": name, "arguments": args}} for name, args in calls]
    return msg("assistant", "", tool_calls=functions)


def wire(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "llama3.2", "messages": list(messages), "stream": False, **fields}


REQUESTS_TO_OLLAMA = {
    "chat-request-no-streaming": (request(text("user", SKY)), wire(msg("user", SKY))),
    "chat-request-with-history": (
        request(text("user", SKY), text("assistant", "rayleigh."), text("user", "and mie?")),
        wire(msg("user", SKY), msg("assistant", "rayleigh."), msg("user", "and mie?")),
    ),
    "system-prompt-stays-a-system-message": (
        request(text("system", "You are terse."), text("user", SKY)),
        wire(msg("system", "You are terse."), msg("user", SKY)),
    ),
    "chat-request-with-images-as-bare-base64": (
        request(
            Message("user", (TextPart("what?"), ImagePart(f"data:image/png;base64,{PNG_B64}")))
        ),
        wire(msg("user", "what?", images=[PNG_B64])),
    ),
    "chat-request-with-tools": (
        request(text("user", PARIS), tools=(WEATHER_TOOL,)),
        wire(msg("user", PARIS), tools=[WEATHER_WIRE]),
    ),
    "tool-result-names-its-tool-found-by-call-id": (
        request(text("user", PARIS), calling(PARIS_CALL), result("22C", "call_0")),
        wire(
            msg("user", PARIS),
            wire_calls(("get_current_weather", PARIS_ARGS)),
            msg("tool", "22C", tool_name="get_current_weather"),
        ),
    ),
    "empty-arguments-become-an-object-and-a-reused-id-maps-to-the-latest-call": (
        request(
            text("user", "time?"),
            calling(ToolCall("call_a", "now", "")),
            result("12:00", "call_a"),
            text("user", "again?"),
            calling(ToolCall("call_a", "clock", "{}")),
            result("12:01", "call_a"),
        ),
        wire(
            msg("user", "time?"),
            wire_calls(("now", {})),
            msg("tool", "12:00", tool_name="now"),
            msg("user", "again?"),
            wire_calls(("clock", {})),
            msg("tool", "12:01", tool_name="clock"),
        ),
    ),
    "result-of-an-unknown-call-goes-without-tool-name": (
        request(text("user", "weather?"), result("sunny", "call_gone")),
        wire(msg("user", "weather?"), msg("tool", "sunny")),
    ),
    "sampling-parameters-go-in-options": (
        request(text("user", SKY), max_tokens=100, temperature=0.8, top_p=0.9, stop=("\n",)),
        wire(
            msg("user", SKY),
            options={"num_predict": 100, "temperature": 0.8, "top_p": 0.9, "stop": ["\n"]},
        ),
    ),
    "tool-choice-none-sends-no-tools": (
        request(text("user", "hi"), tools=(WEATHER_TOOL,), tool_choice="none"),
        wire(msg("user", "hi")),
    ),
    "tool-schemas-travel-untouched": (
        request(
            text("user", "hi"),
            tools=(ToolDefinition("ship", "", NESTED_SCHEMA), ToolDefinition("ping")),
            tool_choice="auto",
        ),
        wire(
            msg("user", "hi"),
            tools=[
                {"type": "function", "function": {"name": "ship", "parameters": NESTED_SCHEMA}},
                {"type": "function", "function": {"name": "ping", "parameters": EMPTY_SCHEMA}},
            ],
        ),
    ),
}


@pytest.mark.parametrize(
    ("neutral", "expected"), REQUESTS_TO_OLLAMA.values(), ids=REQUESTS_TO_OLLAMA.keys()
)
def test_request_maps_to_ollama_chat_body(neutral: ChatRequest, expected: dict[str, Any]) -> None:
    assert chat_request_to_ollama(neutral) == expected


def image(url: str) -> ChatRequest:
    return request(Message("user", (TextPart("x"), ImagePart(url))))


def arguments(value: str) -> ChatRequest:
    return request(text("user", "x"), calling(ToolCall("c", "f", value)))


def forced(choice: str) -> ChatRequest:
    return request(text("user", "x"), tools=(WEATHER_TOOL,), tool_choice=choice)


IMAGE_URL, ARGUMENTS = (
    "messages[0].content[1].image_url.url",
    "messages[1].tool_calls[0].function.arguments",
)
REFUSED = {
    "remote-image-url": (image("https://example.com/cat.png"), IMAGE_URL),
    "data-url-not-base64": (image("data:image/png;base64,not base64!"), IMAGE_URL),
    "data-url-not-an-image": (image("data:text/plain;base64,aGVsbG8="), IMAGE_URL),
    "forced-tool-call": (forced("required"), "tool_choice"),
    "forced-named-tool": (forced("get_current_weather"), "tool_choice"),
    "tool-arguments-not-json": (arguments("{"), ARGUMENTS),
    "tool-arguments-not-an-object": (arguments("[1]"), ARGUMENTS),
}


@pytest.mark.parametrize(("neutral", "param"), REFUSED.values(), ids=REFUSED.keys())
def test_check_refuses_what_ollama_cannot_carry(neutral: ChatRequest, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_ollama_request(neutral)
    assert caught.value.param == param


def assistant(value: str = "", *calls: ToolCall) -> Message:
    return Message("assistant", (TextPart(value),) if value else (), calls)


def answer(content: str, message: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A final ``/api/chat`` object as the docs show it."""
    head = {"model": "llama3.2", "created_at": "2024-07-22T20:33:28.123648Z"}
    return {**head, "message": msg("assistant", content, **(message or {})), "done": True, **fields}


# The statistics of the documented "Chat request (No streaming)" answer.
DOC_STATS = {
    "total_duration": 5191566416,
    "load_duration": 2154458,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 383809000,
    "eval_count": 298,
    "eval_duration": 4799921000,
}
PARIS_COUNTS = {"prompt_eval_count": 122, "eval_count": 33}
PARIS_WIRE = {"function": {"name": "get_current_weather", "arguments": PARIS_ARGS}}
SERVER_IDS = [
    {"id": "call_srv1", "function": {"index": 0, "name": "now", "arguments": {}}},
    {"function": {"index": 1, "name": "today"}},
]
RESPONSES_FROM_OLLAMA = {
    "chat-response-no-streaming": (
        answer("Hello! How are you today?", **DOC_STATS),
        ChatResponse(assistant("Hello! How are you today?"), "stop", Usage(26, 298), "llama3.2"),
    ),
    "tool-calls-finish-as-tool-calls-though-ollama-says-stop": (
        answer("", {"tool_calls": [PARIS_WIRE]}, done_reason="stop", **PARIS_COUNTS),
        ChatResponse(assistant("", PARIS_CALL), "tool_calls", Usage(122, 33), "llama3.2"),
    ),
    "done-reason-length": (
        answer('{"age": 22}', done_reason="length", prompt_eval_count=34, eval_count=12),
        ChatResponse(assistant('{"age": 22}'), "length", Usage(34, 12), "llama3.2"),
    ),
    "load-response-without-counts": (
        answer("", done_reason="load"),
        ChatResponse(assistant(), "stop", Usage(0, 0), "llama3.2"),
    ),
    "a-server-given-call-id-is-kept-and-thinking-dropped": (
        answer("", {"thinking": "The user wants the time.", "tool_calls": SERVER_IDS}),
        ChatResponse(
            assistant("", ToolCall("call_srv1", "now", "{}"), ToolCall("call_1", "today", "{}")),
            "tool_calls",
            Usage(0, 0),
            "llama3.2",
        ),
    ),
}


@pytest.mark.parametrize(
    ("body", "expected"), RESPONSES_FROM_OLLAMA.values(), ids=RESPONSES_FROM_OLLAMA.keys()
)
def test_ollama_chat_response_maps_to_neutral(body: dict[str, Any], expected: ChatResponse) -> None:
    assert chat_response_from_ollama(body) == expected


def test_tool_call_ids_come_from_the_given_factory() -> None:
    body = {"message": {"content": "", "tool_calls": [{"function": {"name": "a"}}] * 2}}
    response = chat_response_from_ollama(body, call_id=lambda n: f"id-{n}")
    assert [c.id for c in response.message.tool_calls] == ["id-0", "id-1"]
    assert [json.loads(c.arguments) for c in response.message.tool_calls] == [{}, {}]


@pytest.mark.parametrize(
    "body",
    [
        {"model": "llama3.2", "done": True},
        {"message": {"content": 3}},
        {"message": {"tool_calls": {"function": {}}}},
        {"message": {"tool_calls": [{"function": {"arguments": {}}}]}},
        {"message": {"tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}},
    ],
    ids=["no-message", "content-not-text", "calls-not-a-list", "call-without-name", "string-args"],
)
def test_malformed_ollama_answers_are_provider_errors(body: dict[str, Any]) -> None:
    with pytest.raises(ProviderUnavailable, match="malformed reply: Ollama chat response: "):
        chat_response_from_ollama(body)


def _ask(**fields: Any) -> ChatRequest:
    return ChatRequest(model="llama3.2", messages=(Message("user", (TextPart("hi"),)),), **fields)


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"response_format": ResponseFormat("json_object")}, {"format": "json"}),
        ({"response_format": ResponseFormat("json_schema", "w", SCHEMA)}, {"format": SCHEMA}),
        ({"response_format": ResponseFormat("json_schema", "w")}, {"format": "json"}),
        ({"seed": 7}, {"options": {"seed": 7}}),
        (
            {"presence_penalty": 0.5, "frequency_penalty": -1.0},
            {"options": {"presence_penalty": 0.5, "frequency_penalty": -1.0}},
        ),
        ({"reasoning_effort": "high"}, {"think": "high"}),
        ({"reasoning_effort": "none"}, {"think": False}),
        ({"logprobs": True}, {"logprobs": True}),
        ({"logprobs": True, "top_logprobs": 4}, {"logprobs": True, "top_logprobs": 4}),
    ],
)
def test_openai_parameters_map_to_ollamas_fields(
    fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = chat_request_to_ollama(_ask(**fields))
    assert {k: body[k] for k in expected} == expected


@pytest.mark.parametrize("effort", ["minimal", "xhigh"])
def test_a_reasoning_effort_think_has_no_level_for_is_refused(effort: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_ollama_request(_ask(reasoning_effort=effort))
    assert caught.value.param == "reasoning_effort"


def test_logprobs_of_an_answer_become_openais_logprobs_object() -> None:
    entry = {"token": "hi", "logprob": -0.1, "bytes": [104, 105], "top_logprobs": []}
    body = {"model": "m", "message": {"role": "assistant", "content": "hi"}, "done": True}
    assert chat_response_from_ollama({**body, "logprobs": [entry]}).logprobs == {
        "content": [entry],
        "refusal": None,
    }
    assert chat_response_from_ollama(body).logprobs is None
