"""What one request may ask for, through an API process of its own with small limits
(``LIMITS``): just under each limit is accepted, just over is a 4xx naming the limit, its
value, the setting and the field — on every endpoint that takes the counted thing. Bodies
over 2 KiB take the off-loop path there, smaller ones stay on the event loop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from emulator import EmulatorControl
from tests.api.test_errors import assert_error
from tests.conftest import KEY_A
from tests.support.processes import Stack

LIMITS = {
    "LLM_GATEWAY_MAX_BODY_BYTES": "32768",
    "LLM_GATEWAY_REQUEST_MAX_MESSAGES": "20",
    "LLM_GATEWAY_REQUEST_MAX_TOOLS": "4",
    "LLM_GATEWAY_REQUEST_MAX_SCHEMA_BYTES": "1024",
    "LLM_GATEWAY_REQUEST_MAX_SCHEMA_DEPTH": "6",
    "LLM_GATEWAY_REQUEST_MAX_CONTENT_BYTES": "4096",
    "LLM_GATEWAY_SESSION_MAX_MESSAGES": "10",
    "LLM_GATEWAY_DOCUMENT_MAX_BYTES": "2048",
    "LLM_GATEWAY_BATCH_MAX_DOCUMENTS": "3",
    "LLM_GATEWAY_OFFLOAD_BODY_BYTES": "2048",
}
MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
def bounded_url(stack: Stack) -> Iterator[str]:
    yield stack.start_extra_api("api-bounded", LIMITS)
    stack.stop_process("api-bounded")


@pytest.fixture
def client(bounded_url: str, emulator: EmulatorControl) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KEY_A}"}
    with httpx.Client(base_url=bounded_url, headers=headers, timeout=30) as c:
        yield c


def user(text: str = "hi") -> dict[str, Any]:
    return {"role": "user", "content": text}


def conversation(count: int) -> list[dict[str, Any]]:
    return [
        user(f"m{i}") if i % 2 == 0 else {"role": "assistant", "content": "ok"}
        for i in range(count - 1)
    ] + [user()]


def tool(name: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


def schema_of_size(size: int) -> dict[str, Any]:
    """An object schema whose compact JSON is exactly ``size`` bytes."""
    schema = {"type": "object", "description": ""}
    schema["description"] = "d" * (size - len(orjson.dumps(schema)))
    assert len(orjson.dumps(schema)) == size
    return schema


def schema_of_depth(depth: int) -> dict[str, Any]:
    """An object schema nested exactly ``depth`` JSON objects and arrays deep."""
    leaf: dict[str, Any] = (
        {"type": "string", "enum": ["a"]}  # 2 levels
        if depth % 2 == 0
        else {"type": "array", "items": {"type": "string", "enum": ["a"]}}  # 3 levels
    )
    for _ in range((depth - (2 if depth % 2 == 0 else 3)) // 2):
        leaf = {"type": "object", "properties": {"p": leaf}}  # 2 levels each
    return leaf


def post_chat(client: httpx.Client, endpoint: str, request: dict[str, Any]) -> httpx.Response:
    if endpoint == "jobs":
        return client.post("/v1/jobs", json={"type": "completion", "request": request})
    return client.post("/v1/chat/completions", json=request)


def accepted(response: httpx.Response) -> None:
    assert response.status_code in (200, 201, 202), response.text


def refused(response: httpx.Response, status: int, param: str, *says: str) -> None:
    error_type = "payload_too_large" if status == 413 else "invalid_request_error"
    error = assert_error(response, status, error_type)
    assert error["param"] == param
    for text in says:
        assert text in str(error["message"]), error["message"]


ENDPOINTS = ["jobs", "chat"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_messages_up_to_the_limit(client: httpx.Client, endpoint: str) -> None:
    accepted(post_chat(client, endpoint, {"model": MODEL, "messages": conversation(20)}))
    refused(
        post_chat(client, endpoint, {"model": MODEL, "messages": conversation(21)}),
        400,
        "messages",
        "21 messages",
        "at most 20",
        "LLM_GATEWAY_REQUEST_MAX_MESSAGES",
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_tools_up_to_the_limit(client: httpx.Client, endpoint: str) -> None:
    tools = [tool(f"t{i}") for i in range(5)]
    request = {"model": MODEL, "messages": [user()], "tools": tools[:4]}
    accepted(post_chat(client, endpoint, request))
    refused(
        post_chat(client, endpoint, {**request, "tools": tools}),
        400,
        "tools",
        "5 tools",
        "at most 4",
        "LLM_GATEWAY_REQUEST_MAX_TOOLS",
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_tool_schema_up_to_the_size_limit(client: httpx.Client, endpoint: str) -> None:
    fits = {"model": MODEL, "messages": [user()], "tools": [tool("a", schema_of_size(1024))]}
    accepted(post_chat(client, endpoint, fits))
    too_big = {**fits, "tools": [tool("a"), tool("b", schema_of_size(1025))]}
    refused(
        post_chat(client, endpoint, too_big),
        400,
        "tools[1].function.parameters",
        "1025 bytes",
        "at most 1024",
        "LLM_GATEWAY_REQUEST_MAX_SCHEMA_BYTES",
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_tool_schema_up_to_the_depth_limit(client: httpx.Client, endpoint: str) -> None:
    fits = {"model": MODEL, "messages": [user()], "tools": [tool("a", schema_of_depth(6))]}
    accepted(post_chat(client, endpoint, fits))
    refused(
        post_chat(client, endpoint, {**fits, "tools": [tool("a", schema_of_depth(7))]}),
        400,
        "tools[0].function.parameters",
        "deeper than 6 levels",
        "LLM_GATEWAY_REQUEST_MAX_SCHEMA_DEPTH",
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_response_format_schema_is_bounded_like_a_tool_schema(
    client: httpx.Client, endpoint: str
) -> None:
    def request(schema: dict[str, Any]) -> dict[str, Any]:
        response_format = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
        return {"model": MODEL, "messages": [user()], "response_format": response_format}

    accepted(post_chat(client, endpoint, request(schema_of_depth(6))))
    where = "response_format.json_schema.schema"
    refused(post_chat(client, endpoint, request(schema_of_depth(7))), 400, where, "deeper")
    refused(post_chat(client, endpoint, request(schema_of_size(1025))), 400, where, "1025 bytes")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_message_content_up_to_the_limit_counted_in_utf8_bytes(
    client: httpx.Client, endpoint: str
) -> None:
    # 4096 bytes in all, across messages and kinds of content.
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        user("x" * 1000),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "y" * 1000},
        {"role": "user", "content": [{"type": "text", "text": "z" * 2094}]},
    ]
    accepted(post_chat(client, endpoint, {"model": MODEL, "messages": messages}))
    messages[-1] = {"role": "user", "content": [{"type": "text", "text": "z" * 2093 + "é"}]}
    refused(
        post_chat(client, endpoint, {"model": MODEL, "messages": messages}),
        413,
        "messages",
        "4097 bytes",
        "at most 4096",
        "LLM_GATEWAY_REQUEST_MAX_CONTENT_BYTES",
    )


def test_the_body_up_to_its_limit(client: httpx.Client) -> None:
    def body(size: int) -> bytes:
        job = {"type": "completion", "request": {"model": MODEL, "messages": [user()]}}
        job["metadata"] = {"pad": ""}
        job["metadata"]["pad"] = "p" * (size - len(orjson.dumps(job)))
        raw = orjson.dumps(job)
        assert len(raw) == size
        return raw

    headers = {"content-type": "application/json"}
    accepted(client.post("/v1/jobs", content=body(32768), headers=headers))
    response = client.post("/v1/jobs", content=body(32769), headers=headers)
    error = assert_error(response, 413, "payload_too_large")
    assert "32768 bytes" in str(error["message"])


def test_a_sessions_initial_history_is_counted_and_measured(client: httpx.Client) -> None:
    accepted(client.post("/v1/sessions", json={"messages": conversation(10)}))
    refused(
        client.post("/v1/sessions", json={"messages": conversation(11)}),
        400,
        "messages",
        "11 messages",
        "LLM_GATEWAY_SESSION_MAX_MESSAGES",
    )
    refused(
        client.post("/v1/sessions", json={"messages": [user("x" * 4097)]}),
        413,
        "messages",
        "LLM_GATEWAY_REQUEST_MAX_CONTENT_BYTES",
    )


def test_enhancement_documents_up_to_the_limit(client: httpx.Client) -> None:
    def job(text: str) -> dict[str, Any]:
        request = {"model": MODEL, "document": {"text": text}, "options": {"review": False}}
        return {"type": "enhancement", "request": request}

    accepted(client.post("/v1/jobs", json=job("# A\n\n" + "b" * 2043)))
    refused(
        client.post("/v1/jobs", json=job("# A\n\n" + "b" * 2044)),
        413,
        "request.document.text",
        "2048-byte limit",
    )


def test_batches_check_every_document_up_to_the_limits(client: httpx.Client) -> None:
    def batch(*texts: str) -> dict[str, Any]:
        documents = [{"text": text} for text in texts]
        return {"model": MODEL, "documents": documents, "options": {"review": False}}

    fits = "# A\n\n" + "b" * 2043
    accepted(client.post("/v1/batches", json=batch(fits, fits, fits)))
    refused(client.post("/v1/batches", json=batch(fits, fits, fits, fits)), 400, "documents")
    refused(
        client.post("/v1/batches", json=batch(fits, fits + "b")),
        413,
        "documents[1].document.text",
        "2048-byte limit",
    )


def test_brackets_and_quotes_inside_a_schemas_strings_do_not_count_as_nesting(
    client: httpx.Client,
) -> None:
    schema = schema_of_depth(6)
    schema["description"] = 'not nesting: {[{[ "quoted \\" {[" ]}]} a backslash \\\\ [[['
    schema["title"] = '\\\\\\"[[[[[[[['
    request = {"model": MODEL, "messages": [user()], "tools": [tool("a", schema)]}
    accepted(post_chat(client, "jobs", request))


@pytest.mark.parametrize(
    ("patch", "status", "param"),
    [
        ({"priority": True}, 422, "priority"),
        (
            {"request": {"model": MODEL, "messages": [user("x" * 3000)], "temperature": 7}},
            422,
            "temperature",
        ),
        ({"metadata": {"pad": "p" * 3000, "x": "__nan__"}}, 400, "metadata.x"),
    ],
    ids=["body-model", "request-model", "non-finite"],
)
def test_a_large_body_checked_off_the_loop_gets_the_same_errors(
    client: httpx.Client, patch: dict[str, Any], status: int, param: str
) -> None:
    body = {"type": "completion", "request": {"model": MODEL, "messages": [user("x" * 3000)]}}
    raw = orjson.dumps(body | patch).replace(b'"__nan__"', b"NaN")
    assert len(raw) > int(LIMITS["LLM_GATEWAY_OFFLOAD_BODY_BYTES"])
    response = client.post("/v1/jobs", content=raw, headers={"content-type": "application/json"})
    error_type = "validation_error" if status == 422 else "invalid_request_error"
    assert assert_error(response, status, error_type)["param"] == param
