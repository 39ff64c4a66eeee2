"""Every endpoint judges the same request the same way, through the real API: strict JSON
types, OpenAI's ranges, and no non-finite number anywhere in a body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.api.test_errors import assert_error

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}

# Where a chat request travels, and the prefix its fields' params get there.
Wrap = Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]
CHAT_ENDPOINTS: dict[str, Wrap] = {
    "jobs": lambda request: ("/v1/jobs", {"type": "completion", "request": request}),
    "chat": lambda request: ("/v1/chat/completions", request),
}


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"temperature": 7}, "temperature"),
        ({"temperature": -0.5}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"temperature": "1"}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"presence_penalty": 2.5}, "presence_penalty"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"top_logprobs": 21}, "top_logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),  # without logprobs: true
        ({"max_tokens": True}, "max_tokens"),
        ({"max_tokens": 10.0}, "max_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"n": 2}, "n"),
        ({"stream": "yes"}, "stream"),
        ({"stream": 1}, "stream"),
        ({"stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
        ({"logprobs": "true"}, "logprobs"),
        ({"parallel_tool_calls": 0}, "parallel_tool_calls"),
        ({"seed": "42"}, "seed"),
        ({"logit_bias": {"50256": True}}, "logit_bias.50256"),
        ({"user": 7}, "user"),
        ({"messages": []}, "messages"),
    ],
    ids=lambda value: str(value) if isinstance(value, str) else None,
)
@pytest.mark.parametrize("endpoint", list(CHAT_ENDPOINTS))
def test_the_same_bad_chat_request_gets_the_same_422_everywhere(
    client_a: httpx.Client, endpoint: str, patch: dict[str, Any], param: str
) -> None:
    path, body = CHAT_ENDPOINTS[endpoint]({**CHAT, **patch})
    error = assert_error(client_a.post(path, json=body), 422, "validation_error")
    assert error["param"] == param
    assert str(error["message"]).startswith(f"{param}: ")
    assert client_a.get("/v1/jobs").json()["data"] == []


@pytest.mark.parametrize("endpoint", list(CHAT_ENDPOINTS))
def test_a_chat_request_within_the_ranges_is_accepted_everywhere(
    client_a: httpx.Client, endpoint: str
) -> None:
    edges = {"temperature": 2, "top_p": 0, "presence_penalty": -2, "frequency_penalty": 2.0}
    edges |= {
        "logprobs": True,
        "top_logprobs": 20,
        "logit_bias": {"50256": -100},
        "stream": False,
        "seed": -1,
    }
    path, body = CHAT_ENDPOINTS[endpoint]({**CHAT, **edges})
    response = client_a.post(path, json=body)
    assert response.status_code in (200, 202), response.text


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"type": "completion", "request": CHAT, "priority": True}, "priority"),
        ({"type": "completion", "request": CHAT, "priority": "5"}, "priority"),
        ({"type": "completion", "request": CHAT, "priority": 5.0}, "priority"),
        ({"type": "completion", "request": CHAT, "session_id": 12}, "session_id"),
        ({"type": "completion", "request": CHAT, "webhook": {"url": 5}}, "webhook.url"),
    ],
    ids=["priority-true", "priority-string", "priority-float", "session-number", "webhook-url"],
)
def test_job_options_take_their_json_types_as_they_are(
    client_a: httpx.Client, body: dict[str, Any], param: str
) -> None:
    error = assert_error(client_a.post("/v1/jobs", json=body), 422, "validation_error")
    assert error["param"] == param


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/sessions", {"ttl_seconds": True}, "ttl_seconds"),
        ("/v1/sessions", {"context_budget_tokens": "100"}, "context_budget_tokens"),
        ("/v1/tools/execute", {"name": 5}, "name"),
        ("/v1/batches", {"model": "gpt-4o-mini", "documents": [{"text": 5}]}, "documents.0.text"),
        (
            "/v1/batches",
            {"model": "gpt-4o-mini", "documents": [{"text": "# A"}], "priority": True},
            "priority",
        ),
    ],
    ids=["session-ttl", "session-budget", "tool-name", "batch-document", "batch-priority"],
)
def test_other_bodies_take_their_json_types_as_they_are(
    client_a: httpx.Client, path: str, body: dict[str, Any], param: str
) -> None:
    error = assert_error(client_a.post(path, json=body), 422, "validation_error")
    assert str(error["param"]).replace("[", ".").replace("]", "") == param


def test_batch_options_are_strict_too(client_a: httpx.Client) -> None:
    body = {"model": "gpt-4o-mini", "documents": [{"text": "# A"}], "options": {"review": "no"}}
    error = assert_error(client_a.post("/v1/batches", json=body), 400, "invalid_request_error")
    assert error["param"] == "options.review"


def test_an_enhancement_request_is_strict_too(client_a: httpx.Client) -> None:
    request = {"model": "gpt-4o-mini", "document": {"text": "# A"}, "options": {"review": 1}}
    response = client_a.post("/v1/jobs", json={"type": "enhancement", "request": request})
    error = assert_error(response, 400, "invalid_request_error")
    assert error["param"] == "request.options.review"


def _raw(body: dict[str, Any], spot: str, literal: str) -> bytes:
    """``body`` as JSON text with the string ``spot`` replaced by a number literal that
    JSON's grammar does not allow (NaN, Infinity) or that overflows a double (1e400)."""
    return orjson.dumps(body).replace(f'"{spot}"'.encode(), literal.encode())


SPOT = "__number__"
# Bodies with one number in them, and the param naming it.
NUMBER_PLACES: dict[str, tuple[str, dict[str, Any], str]] = {
    "job-temperature": (
        "/v1/jobs",
        {"type": "completion", "request": {**CHAT, "temperature": SPOT}},
        "request.temperature",
    ),
    "job-metadata": (
        "/v1/jobs",
        {"type": "completion", "request": CHAT, "metadata": {"score": SPOT}},
        "metadata.score",
    ),
    "job-deep-in-a-tool-schema": (
        "/v1/jobs",
        {
            "type": "completion",
            "request": {
                **CHAT,
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": "f",
                            "parameters": {"type": "object", "maximum": [1, SPOT]},
                        },
                    }
                ],
            },
        },
        "request.tools[0].function.parameters.maximum[1]",
    ),
    "chat-temperature": ("/v1/chat/completions", {**CHAT, "temperature": SPOT}, "temperature"),
    "chat-unknown-field": ("/v1/chat/completions", {**CHAT, "extra": {"x": SPOT}}, "extra.x"),
    "embeddings-dimensions": (
        "/v1/embeddings",
        {"model": "text-embedding-3-small", "input": "a", "dimensions": SPOT},
        "dimensions",
    ),
    "session-metadata": ("/v1/sessions", {"metadata": {"m": SPOT}}, "metadata.m"),
    "session-context": ("/v1/sessions", {"context": {"c": [SPOT]}}, "context.c[0]"),
    "tool-arguments": (
        "/v1/tools/execute",
        {"name": "search_corpus", "arguments": {"query": "q", "top_k": SPOT}},
        "arguments.top_k",
    ),
    "batch-metadata": (
        "/v1/batches",
        {"model": "gpt-4o-mini", "documents": [{"text": "# A"}], "metadata": {"m": SPOT}},
        "metadata.m",
    ),
    "batch-options": (
        "/v1/batches",
        {
            "model": "gpt-4o-mini",
            "documents": [{"text": "# A"}],
            "options": {"min_content_retained": SPOT},
        },
        "options.min_content_retained",
    ),
}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
@pytest.mark.parametrize("place", list(NUMBER_PLACES))
def test_non_finite_numbers_are_a_400_naming_the_field(
    client_a: httpx.Client, place: str, literal: str
) -> None:
    path, body, param = NUMBER_PLACES[place]
    response = client_a.post(
        path, content=_raw(body, SPOT, literal), headers={"content-type": "application/json"}
    )
    error = assert_error(response, 400, "invalid_request_error")
    assert error["param"] == param
    assert literal in str(error["message"]) and "finite" in str(error["message"])
    assert client_a.get("/v1/jobs").json()["data"] == []


@pytest.mark.parametrize("literal", ["18446744073709551616", "-9223372036854775809", "1" * 5000])
def test_integers_beyond_64_bits_are_a_400_naming_the_field(
    client_a: httpx.Client, literal: str
) -> None:
    body = {"type": "completion", "request": CHAT, "metadata": {"big": SPOT}}
    response = client_a.post(
        "/v1/jobs", content=_raw(body, SPOT, literal), headers={"content-type": "application/json"}
    )
    error = assert_error(response, 400, "invalid_request_error")
    assert error["param"] == "metadata.big"
    assert "64 bits" in str(error["message"])


def test_the_largest_64_bit_integers_are_kept_exactly(client_a: httpx.Client) -> None:
    metadata = {"unsigned": 2**64 - 1, "signed": -(2**63), "digits": "1234567890123456789012"}
    response = client_a.post(
        "/v1/jobs", json={"type": "completion", "request": CHAT, "metadata": metadata}
    )
    assert response.status_code == 202, response.text
    assert client_a.get(f"/v1/jobs/{response.json()['id']}").json()["metadata"] == metadata


def test_a_body_that_is_not_json_says_where(client_a: httpx.Client) -> None:
    response = client_a.post(
        "/v1/jobs",
        content=b'{"type": "completion",, }',
        headers={"content-type": "application/json"},
    )
    error = assert_error(response, 400, "invalid_request_error")
    assert "not valid JSON" in str(error["message"]) and "column" in str(error["message"])
