"""``/v1/sessions`` through the real API process and Redis: create, read, merge context,
delete, expiry, tenancy and the error shape of every refusal."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.support.conversations import HISTORY

MISSING_ID = "sess_" + "0" * 32


def create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) >= {"type", "message", "param"}
    assert body["error"]["type"] == error_type
    return body["error"]  # type: ignore[no-any-return]


def test_create_returns_201_with_location_and_the_session(client_a: httpx.Client) -> None:
    response = client_a.post(
        "/v1/sessions",
        json={
            "system": "You are terse.",
            "context": {"user": "ada"},
            "ttl_seconds": 120,
            "context_budget_tokens": 2000,
            "metadata": {"team": "search"},
            "messages": HISTORY,
        },
    )
    assert response.status_code == 201
    session = response.json()
    assert response.headers["location"] == f"/v1/sessions/{session['id']}"
    assert session["id"].startswith("sess_")
    assert session["object"] == "session"
    assert session["system"] == "You are terse."
    assert session["context"] == {"user": "ada"}
    assert session["ttl_seconds"] == 120
    assert session["context_budget_tokens"] == 2000
    assert session["metadata"] == {"team": "search"}
    assert session["messages"] == HISTORY
    assert session["message_count"] == 4
    assert "tenant" not in session


def test_defaults_come_from_settings(client_a: httpx.Client) -> None:
    session = create(client_a)
    assert session["ttl_seconds"] == 3600
    assert session["context_budget_tokens"] == 16000
    assert session["system"] is None
    assert session["messages"] == []
    assert session["context"] == {}


def test_get_returns_the_stored_session(client_a: httpx.Client) -> None:
    created = create(client_a, system="sys", messages=HISTORY[:1], context={"k": [1]})
    response = client_a.get(f"/v1/sessions/{created['id']}")
    assert response.status_code == 200
    loaded = response.json()
    assert loaded["messages"] == HISTORY[:1]
    assert loaded["context"] == {"k": [1]}
    assert loaded["created_at"] == created["created_at"]


def test_initial_messages_are_stored_in_canonical_form(client_a: httpx.Client) -> None:
    session = create(
        client_a, messages=[{"role": "developer", "content": [{"type": "text", "text": "hi"}]}]
    )
    assert session["messages"] == [{"role": "system", "content": "hi"}]


def test_other_tenant_gets_404_for_every_action(
    client_a: httpx.Client, client_b: httpx.Client
) -> None:
    session_id = create(client_a, context={"k": "v"})["id"]
    for response in (
        client_b.get(f"/v1/sessions/{session_id}"),
        client_b.delete(f"/v1/sessions/{session_id}"),
        client_b.patch(f"/v1/sessions/{session_id}", json={"context": {"k": None}}),
    ):
        error = assert_error(response, 404, "session_not_found")
        assert error["param"] == "session_id"
    still = client_a.get(f"/v1/sessions/{session_id}")
    assert still.status_code == 200
    assert still.json()["context"] == {"k": "v"}


def test_delete_returns_204_then_the_session_is_gone(client_a: httpx.Client) -> None:
    session_id = create(client_a, messages=HISTORY)["id"]
    response = client_a.delete(f"/v1/sessions/{session_id}")
    assert response.status_code == 204
    assert response.content == b""
    assert_error(client_a.get(f"/v1/sessions/{session_id}"), 404, "session_not_found")
    assert_error(client_a.delete(f"/v1/sessions/{session_id}"), 404, "session_not_found")


def test_session_expires_after_its_ttl(client_a: httpx.Client) -> None:
    session_id = create(client_a, ttl_seconds=1)["id"]
    assert client_a.get(f"/v1/sessions/{session_id}").status_code == 200
    time.sleep(1.2)
    assert_error(client_a.get(f"/v1/sessions/{session_id}"), 404, "session_not_found")


def test_patch_merges_context_and_null_deletes(client_a: httpx.Client) -> None:
    session_id = create(client_a, context={"a": 1, "b": 2})["id"]
    response = client_a.patch(
        f"/v1/sessions/{session_id}", json={"context": {"a": None, "b": 3, "c": {"d": [1]}}}
    )
    assert response.status_code == 200
    assert response.json()["context"] == {"b": 3, "c": {"d": [1]}}
    assert client_a.get(f"/v1/sessions/{session_id}").json()["context"] == {"b": 3, "c": {"d": [1]}}


def test_unknown_session_is_404_in_the_error_shape(client_a: httpx.Client) -> None:
    for response in (
        client_a.get(f"/v1/sessions/{MISSING_ID}"),
        client_a.delete(f"/v1/sessions/{MISSING_ID}"),
        client_a.patch(f"/v1/sessions/{MISSING_ID}", json={"context": {"a": 1}}),
    ):
        error = assert_error(response, 404, "session_not_found")
        assert MISSING_ID in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"ttl_seconds": 0}, "ttl_seconds"),
        ({"ttl_seconds": 30 * 24 * 3600 + 1}, "ttl_seconds"),
        ({"ttl_seconds": "soon"}, "ttl_seconds"),
        ({"context_budget_tokens": 0}, "context_budget_tokens"),
        ({"context_budget_tokens": -5}, "context_budget_tokens"),
        ({"tenant": "tenant_b"}, "tenant"),
        ({"context": ["not", "an", "object"]}, "context"),
        ({"messages": "hello"}, "messages"),
        ({"metadata": {"nested": {"no": 1}}}, "metadata.nested"),
    ],
)
def test_invalid_create_bodies_are_422(
    client_a: httpx.Client, body: dict[str, Any], param: str
) -> None:
    error = assert_error(client_a.post("/v1/sessions", json=body), 422, "validation_error")
    assert error["param"].startswith(param)


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "wizard", "content": "hi"}, "messages[1].role"),
        ({"role": "tool", "content": "4"}, "messages[1].tool_call_id"),
        ({"role": "user"}, "messages[1].content"),
        ({"role": "user", "content": [{"type": "audio"}]}, "messages[1].content[0].type"),
    ],
)
def test_invalid_initial_message_is_400_naming_it(
    client_a: httpx.Client, message: dict[str, Any], param: str
) -> None:
    body = {"messages": [{"role": "user", "content": "fine"}, message]}
    error = assert_error(client_a.post("/v1/sessions", json=body), 400, "invalid_request_error")
    assert error["param"] == param


def test_patch_needs_a_context_object(client_a: httpx.Client) -> None:
    session_id = create(client_a)["id"]
    for body in ({}, {"context": 3}, {"context": {}, "system": "no"}):
        assert_error(
            client_a.patch(f"/v1/sessions/{session_id}", json=body), 422, "validation_error"
        )


def test_sessions_need_an_api_key(client_a: httpx.Client) -> None:
    response = httpx.post(f"{client_a.base_url}/v1/sessions", json={}, timeout=10)
    assert_error(response, 401, "authentication_error")


@pytest.mark.parametrize(
    "session_id", ["sess_x", f"{MISSING_ID}:messages", f"{MISSING_ID}:context", "x" * 300]
)
def test_malformed_session_ids_are_404_and_touch_no_key(
    client_a: httpx.Client, session_id: str
) -> None:
    existing = create(client_a)["id"]
    for response in (
        client_a.get(f"/v1/sessions/{existing}:messages"),
        client_a.get(f"/v1/sessions/{session_id}"),
        client_a.delete(f"/v1/sessions/{session_id}"),
    ):
        assert_error(response, 404, "session_not_found")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"context": {"n": 2**64}}, "context.n"),
        ({"metadata": {"n": 2**64}}, "metadata.n"),
        # A key that cannot be stored: the object holding it is named.
        ({"context": {"\ud800": 1}}, "context"),
        ({"messages": [{"role": "user", "content": "\ud800"}]}, "messages[0].content"),
        ({"system": "\ud800"}, "system"),
    ],
)
def test_values_that_cannot_be_stored_are_a_400_naming_them(
    client_a: httpx.Client, body: dict[str, Any], param: str
) -> None:
    raw = json.dumps(body)  # ASCII JSON: a lone surrogate travels as a \\u escape
    response = client_a.post(
        "/v1/sessions", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_patch_with_a_value_that_cannot_be_stored_is_a_400(client_a: httpx.Client) -> None:
    session = create(client_a)["id"]
    response = client_a.patch(f"/v1/sessions/{session}", json={"context": {"n": 2**64}})
    assert assert_error(response, 400, "invalid_request_error")["param"] == "context.n"
