"""watsonx.ai text chat <-> neutral types, both directions, from documented shapes.

Payloads follow IBM's examples: the tool-calling guide
https://dataplatform.cloud.ibm.com/docs/content/wsj/analyze-data/fm-api-chat-tools.html?context=wx
(request with ``tool_choice_option`` and the ``mistralai/mistral-large`` tool-call response),
the chat guide https://www.ibm.com/docs/en/watsonx/saas?topic=solutions-chat and the API
reference https://cloud.ibm.com/apidocs/watsonx-ai#text-chat (error bodies as in
``{"errors": [{"code", "message", "more_info"}], "trace", "status_code"}``).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from gateway.errors import InvalidRequest, ProviderUnavailable
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
from providers.watsonx_format import (
    chat_request_to_watsonx,
    chat_response_from_watsonx,
    chat_url,
    check_watsonx_request,
    watsonx_error,
)

PROJECT = "4947c695-a374-428c-acca-332c1a1dc9e9"
ADD_PARAMETERS = {
    "type": "object",
    "properties": {
        "a": {"description": "A number value", "type": "number"},
        "b": {"description": "A number value", "type": "number"},
    },
    "required": ["a", "b"],
}
ADD_TOOL = ToolDefinition("add", "Adds the values a and b to get a sum.", ADD_PARAMETERS)
WIRE_ADD_TOOL = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Adds the values a and b to get a sum.",
        "parameters": ADD_PARAMETERS,
    },
}
IMAGE = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ"


def user(text: str) -> Message:
    return Message("user", (TextPart(text),))


def request(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model="mistralai/mistral-large", messages=messages, **fields)


# --- gateway -> watsonx ------------------------------------------------------------------------

REQUESTS: dict[str, tuple[ChatRequest, dict[str, Any]]] = {
    "plain user text is a string": (
        request(user("What is 2 plus 4?")),
        {"messages": [{"role": "user", "content": "What is 2 plus 4?"}]},
    ),
    "system prompt stays a system message with string content": (
        request(Message("system", (TextPart("You are a helpful assistant."),)), user("Hi")),
        {
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Hi"},
            ]
        },
    ),
    "text and image parts become content parts": (
        request(Message("user", (TextPart("Describe this"), ImagePart(IMAGE, "auto")))),
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Describe this"},
                        {"type": "image_url", "image_url": {"url": IMAGE, "detail": "auto"}},
                    ],
                }
            ]
        },
    ),
    "tools with tool_choice auto go as tool_choice_option": (
        request(user("What is 2 plus 4?"), tools=(ADD_TOOL,), tool_choice="auto"),
        {
            "messages": [{"role": "user", "content": "What is 2 plus 4?"}],
            "tools": [WIRE_ADD_TOOL],
            "tool_choice_option": "auto",
        },
    ),
    "a forced tool goes as tool_choice, never beside tool_choice_option": (
        request(user("add"), tools=(ADD_TOOL,), tool_choice="add"),
        {
            "messages": [{"role": "user", "content": "add"}],
            "tools": [WIRE_ADD_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "add"}},
        },
    ),
    "tool round trip: assistant tool_calls without content, then a tool message": (
        request(
            user("What is 2 plus 4?"),
            Message("assistant", tool_calls=(ToolCall("H6KoCbaZV", "add", '{"a": 2, "b": 4}'),)),
            Message("tool", (TextPart("6"),), tool_call_id="H6KoCbaZV"),
        ),
        {
            "messages": [
                {"role": "user", "content": "What is 2 plus 4?"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "H6KoCbaZV",
                            "type": "function",
                            "function": {"name": "add", "arguments": '{"a": 2, "b": 4}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "H6KoCbaZV", "content": "6"},
            ]
        },
    ),
    "sampling parameters and stop sequences": (
        request(user("x"), max_tokens=300, temperature=0.5, top_p=0.9, stop=("\n\n",)),
        {
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 300,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": ["\n\n"],
        },
    ),
}


@pytest.mark.parametrize(("req", "expected"), REQUESTS.values(), ids=REQUESTS)
def test_chat_request_maps_to_watsonx_body(req: ChatRequest, expected: dict[str, Any]) -> None:
    body = chat_request_to_watsonx(req, project_id=PROJECT)
    assert body == {"model_id": "mistralai/mistral-large", "project_id": PROJECT, **expected}


def test_space_id_replaces_project_id_and_time_limit_is_sent() -> None:
    body = chat_request_to_watsonx(
        request(user("x")), project_id=PROJECT, space_id="space-1", time_limit_ms=1000
    )
    assert body["space_id"] == "space-1"
    assert "project_id" not in body
    assert body["time_limit"] == 1000


def test_chat_url_carries_the_version_parameter() -> None:
    url = chat_url("https://us-south.ml.cloud.ibm.com/", "2024-05-31")
    assert url == "https://us-south.ml.cloud.ibm.com/ml/v1/text/chat?version=2024-05-31"


BAD_JSON_CALL = Message("assistant", tool_calls=(ToolCall("c1", "add", "{a:"),))
BAD_REQUESTS: dict[str, tuple[ChatRequest, str]] = {
    "image in a system message": (
        request(Message("system", (ImagePart(IMAGE),)), user("x")),
        "messages[0].content[0]",
    ),
    "tool-call arguments that are not JSON": (
        request(user("x"), BAD_JSON_CALL),
        "messages[1].tool_calls[0].function.arguments",
    ),
}


@pytest.mark.parametrize(("req", "param"), BAD_REQUESTS.values(), ids=BAD_REQUESTS)
def test_check_refuses_what_watsonx_cannot_carry(req: ChatRequest, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_watsonx_request(req)
    assert info.value.param == param


# --- watsonx -> gateway ------------------------------------------------------------------------

DOC_TOOL_RESPONSE = {
    "id": "chatcmpl-2f47da4026950db321698cb733b25e89",
    "model_id": "mistralai/mistral-large",
    "model": "mistralai/mistral-large",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "H6KoCbaZV",
                        "type": "function",
                        "function": {"name": "add", "arguments": '{"a": 2, "b": 4}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "created": 1739311926,
    "model_version": "2.0.0",
    "created_at": "2025-02-11T22:12:07.243Z",
    "usage": {"completion_tokens": 25, "prompt_tokens": 189, "total_tokens": 214},
}


def text_response(content: str, finish_reason: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "model_id": "ibm/granite-3-8b-instruct",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
        "created": 1739311926,
        "usage": {"completion_tokens": 7, "prompt_tokens": 30, "total_tokens": 37},
    }


ADD_CALL = ToolCall("H6KoCbaZV", "add", '{"a": 2, "b": 4}')
# (response body, text, finish reason, tool calls); ids name the case.
RESPONSES: dict[str, tuple[dict[str, Any], str, str, tuple[ToolCall, ...]]] = {
    "documented tool call": (DOC_TOOL_RESPONSE, "", "tool_calls", (ADD_CALL,)),
    "plain answer": (
        text_response("J'adore programmer.", "stop"),
        "J'adore programmer.",
        "stop",
        (),
    ),
    "token limit": (text_response("Once upon", "length"), "Once upon", "length", ()),
    "time limit cuts like tokens": (text_response("Once", "time_limit"), "Once", "length", ()),
}


@pytest.mark.parametrize(("body", "text", "finish", "calls"), RESPONSES.values(), ids=RESPONSES)
def test_watsonx_response_maps_to_chat_response(
    body: dict[str, Any], text: str, finish: str, calls: tuple[ToolCall, ...]
) -> None:
    response = chat_response_from_watsonx(body)
    assert (response.message.text, response.message.tool_calls) == (text, calls)
    assert response.finish_reason == finish
    assert response.model == body["model_id"]
    assert response.provider_response_id == body["id"]
    usage = body["usage"]
    assert response.usage == Usage(usage["prompt_tokens"], usage["completion_tokens"])


def test_tool_call_arguments_sent_as_an_object_become_json_text() -> None:
    body = text_response("", "tool_calls")
    body["choices"][0]["message"]["tool_calls"] = [
        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": {"a": 1}}}
    ]
    assert chat_response_from_watsonx(body).message.tool_calls == (
        ToolCall("c1", "add", '{"a": 1}'),
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "not an object"),
        ({"choices": []}, r"no choices\[0\].message"),
        ({"choices": [{"message": "x"}]}, r"no choices\[0\].message"),
    ],
)
def test_malformed_response_is_a_retryable_provider_error(body: object, problem: str) -> None:
    with pytest.raises(
        ProviderUnavailable, match=r"malformed reply: watsonx\.ai chat response: "
    ) as caught:
        chat_response_from_watsonx(body)
    assert re.search(problem, caught.value.message)


UNSUPPORTED = "Model 'ibm/granite-13b-chat-v2' does not support function 'function_text_chat'"
DOC_ERROR = {
    "errors": [
        {
            "code": "model_no_support_for_function",
            "message": UNSUPPORTED,
            "more_info": "https://cloud.ibm.com/apidocs/watsonx-ai",
        }
    ],
    "trace": "de9f07467c33b2695bd0b95d101d7413",
    "status_code": 400,
}
ERRORS: list[tuple[object, tuple[str | None, str | None]]] = [
    (DOC_ERROR, ("model_no_support_for_function", UNSUPPORTED)),
    ({"errors": []}, (None, None)),
    ("<html>bad gateway</html>", (None, None)),
]


@pytest.mark.parametrize(("body", "expected"), ERRORS)
def test_watsonx_error_reads_the_first_error(
    body: object, expected: tuple[str | None, str | None]
) -> None:
    assert watsonx_error(body) == expected


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def _ask(**fields: Any) -> ChatRequest:
    return ChatRequest(
        model="ibm/granite", messages=(Message("user", (TextPart("hi"),)),), **fields
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"response_format": ResponseFormat("json_object")},
            {"response_format": {"type": "json_object"}},
        ),
        (
            # watsonx's json_schema has no description: it is not sent.
            {"response_format": ResponseFormat("json_schema", "w", SCHEMA, True, "about")},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "w", "strict": True, "schema": SCHEMA},
                }
            },
        ),
        ({"seed": 7, "logit_bias": {"5": 3}}, {"seed": 7, "logit_bias": {"5": 3}}),
        (
            {"presence_penalty": 0.5, "frequency_penalty": -1.0},
            {"presence_penalty": 0.5, "frequency_penalty": -1.0},
        ),
        ({"reasoning_effort": "medium"}, {"reasoning_effort": "medium"}),
    ],
)
def test_openai_parameters_keep_their_names_on_watsonx(
    fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = chat_request_to_watsonx(_ask(**fields), project_id="p")
    assert {k: body[k] for k in expected} == expected


def test_a_reasoning_effort_watsonx_lacks_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_watsonx_request(_ask(reasoning_effort="minimal"))
    assert caught.value.param == "reasoning_effort"
