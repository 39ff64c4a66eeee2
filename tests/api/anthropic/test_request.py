"""An Anthropic Messages request translated into the gateway's chat request: each block
and option, and what is refused (with the field named)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import ValidationError

from api.anthropic.errors import most_specific
from api.anthropic.request import chat_request
from api.schemas.messages import MessageCreate, MessageTokensCount
from gateway.errors import InvalidRequest
from providers.openai_format import chat_request_from_openai
from providers.types import DocumentPart, ImagePart, StorageRef
from tasks.kinds.completion_request import CompletionRequest


def translated(**body: Any) -> dict[str, Any]:
    request = chat_request(MessageCreate.model_validate({"model": "m", "max_tokens": 9, **body}))
    CompletionRequest.check(request)  # the one request model every chat request meets
    return request


def user(content: object) -> dict[str, Any]:
    return {"role": "user", "content": content}


def test_a_plain_request_maps_its_options() -> None:
    request = translated(
        system="terse",
        messages=[user("hi")],
        stop_sequences=["END"],
        temperature=0.5,
        top_p=0.25,
        metadata={"user_id": "ada"},
        provider="anthropic",
    )
    assert request == {
        "model": "m",
        "messages": [{"role": "system", "content": "terse"}, {"role": "user", "content": "hi"}],
        "max_tokens": 9,
        "temperature": 0.5,
        "top_p": 0.25,
        "stop": ["END"],
        "user": "ada",
        "provider": "anthropic",
    }


def test_system_text_blocks_are_joined_and_cache_control_is_dropped() -> None:
    blocks = [
        {"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "two"},
    ]
    request = translated(system=blocks, messages=[user("hi")], cache_control={"type": "x"})
    assert request["messages"][0] == {"role": "system", "content": "one\n\ntwo"}
    assert "cache_control" not in json.dumps(request)


def test_images_become_image_url_parts() -> None:
    base64_image = {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}
    url_image = {"type": "url", "url": "https://example.com/cat.jpg"}
    request = translated(
        messages=[
            user(
                [
                    {"type": "image", "source": base64_image},
                    {"type": "image", "source": url_image},
                    {"type": "text", "text": "which?"},
                ]
            )
        ]
    )
    parts = request["messages"][0]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}
    assert parts[1]["image_url"]["url"] == "https://example.com/cat.jpg"
    chat = chat_request_from_openai(request)
    assert [type(p) for p in chat.messages[0].content][:2] == [ImagePart, ImagePart]


def test_documents_become_file_parts_and_document_parts() -> None:
    pdf = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}
    text = {"type": "text", "media_type": "text/plain", "data": "plain words"}
    url = {"type": "url", "url": "https://example.com/a.pdf"}
    stored = {"type": "storage", "route": "local", "bucket": "rag-docs", "key": "a/b.pdf"}
    request = translated(
        messages=[
            user(
                [
                    {"type": "document", "source": pdf, "title": "a.pdf"},
                    {"type": "document", "source": text},
                    {"type": "document", "source": url},
                    {"type": "document", "source": stored, "title": "b"},
                ]
            )
        ]
    )
    parts = request["messages"][0]["content"]
    assert parts[0] == {
        "type": "file",
        "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
    }
    encoded = base64.b64encode(b"plain words").decode()
    assert parts[1]["file"]["file_data"] == f"data:text/plain;base64,{encoded}"
    # By URL or in a storage route: the gateway's document part, which the worker reads.
    assert parts[2:] == [
        {"type": "document", "source": url},
        {"type": "document", "source": stored, "title": "b"},
    ]
    assert chat_request_from_openai(request).messages[0].content == (
        DocumentPart("application/pdf", data="JVBERi0=", filename="a.pdf"),
        DocumentPart("text/plain", data=encoded),
        DocumentPart("", url="https://example.com/a.pdf", by_gateway=True),
        DocumentPart(
            "", storage=StorageRef("local", "rag-docs", "a/b.pdf"), filename="b", by_gateway=True
        ),
    )


def test_tool_use_and_tool_results_become_tool_calls_and_tool_messages() -> None:
    tool = {"name": "get_weather", "description": "weather", "input_schema": {"type": "object"}}
    request = translated(
        tools=[tool],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        messages=[
            user("weather?"),
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"c": 1}},
                    {"type": "tool_use", "id": "t2", "name": "get_weather", "input": {}},
                ],
            },
            user(
                [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "t2",
                        "content": [{"type": "text", "text": "no city"}],
                        "is_error": True,
                    },
                    {"type": "text", "text": "so?"},
                ]
            ),
        ],
    )
    assert request["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object"},
                "description": "weather",
            },
        }
    ]
    assert (request["tool_choice"], request["parallel_tool_calls"]) == ("required", False)
    assistant, first, second, question = request["messages"][1:]
    assert assistant["content"] == "Looking."
    assert [c["function"]["arguments"] for c in assistant["tool_calls"]] == ['{"c": 1}', "{}"]
    assert first == {"role": "tool", "tool_call_id": "t1", "content": "sunny"}
    assert second == {"role": "tool", "tool_call_id": "t2", "content": "Error: no city"}
    assert question == {"role": "user", "content": [{"type": "text", "text": "so?"}]}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "f"}, {"type": "function", "function": {"name": "f"}}),
    ],
)
def test_tool_choices(choice: dict[str, Any], expected: object) -> None:
    tool = {"name": "f", "input_schema": {"type": "object"}}
    request = translated(messages=[user("x")], tools=[tool], tool_choice=choice)
    assert request["tool_choice"] == expected
    assert "parallel_tool_calls" not in request


def test_a_count_request_has_no_output_options() -> None:
    body = MessageTokensCount.model_validate({"model": "m", "messages": [user("x")]})
    assert chat_request(body) == {"model": "m", "messages": [{"role": "user", "content": "x"}]}


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        (
            [{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}],
            "messages[0].content[0]",
        ),
        (
            [user([{"type": "tool_use", "id": "t", "name": "f", "input": {}}])],
            "messages[0].content[0]",
        ),
        (
            [
                user(
                    [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t",
                            "content": [
                                {
                                    "type": "image",
                                    "source": {"type": "url", "url": "https://x.test/a.png"},
                                }
                            ],
                        }
                    ]
                )
            ],
            "messages[0].content[0].content",
        ),
    ],
)
def test_blocks_in_the_wrong_place_are_refused_naming_them(
    messages: list[dict[str, Any]], param: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        translated(messages=messages)
    assert info.value.param == param


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"top_k": 5}, "top_k"),
        ({"thinking": {"type": "enabled"}}, "thinking"),
        ({"service_tier": "priority"}, "service_tier"),
        ({"output_config": {"format": {"type": "json_object"}}}, "type"),
        ({"temperature": 1.5}, "temperature"),
        ({"messages": [user([{"type": "text", "text": "x", "citations": [{}]}])]}, "citations"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools"),
        ({"messages": [{"role": "system", "content": "x"}]}, "role"),
    ],
)
def test_what_the_gateway_cannot_carry_does_not_validate(extra: dict[str, Any], field: str) -> None:
    body = {"model": "m", "max_tokens": 9, "messages": [user("x")], **extra}
    with pytest.raises(ValidationError) as info:
        MessageCreate.model_validate(body)
    # As the API names it (``api.errors``): the error that got furthest into the body.
    assert field in most_specific(info.value.errors())["loc"]


def test_output_config_and_service_tier_become_the_chat_fields() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    request = translated(
        messages=[user("x")],
        output_config={"format": {"type": "json_schema", "schema": schema}, "effort": "max"},
        service_tier="standard_only",
    )
    assert request["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }
    assert (request["reasoning_effort"], request["service_tier"]) == ("max", "default")
    assert translated(messages=[user("x")], service_tier="auto")["service_tier"] == "auto"
