"""The emulated watsonx.ai chat endpoint and its IBM Cloud IAM token route, over raw HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive
from emulator.protocols.watsonx_chat import APIKEY_GRANT

MODEL = "meta-llama/llama-3-3-70b-instruct"
BODY: dict[str, Any] = {
    "model_id": MODEL,
    "project_id": "4947c695-a374-428c-acca-332c1a1dc9e9",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "What is 2 plus 4?"}]}],
}
FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


def exchange(url: str, api_key: str = "emulator-key") -> httpx.Response:
    form = {"grant_type": APIKEY_GRANT, "apikey": api_key}
    return httpx.post(f"{url}/identity/token", data=form, headers={"Accept": "application/json"})


def chat(
    url: str, token: str | None, body: dict[str, Any] = BODY, query: str = "?version=2024-05-31"
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{url}/ml/v1/text/chat{query}", json=body, headers=headers)


@pytest.fixture
def token(emulator_url: str, control: EmulatorControl) -> str:
    value: str = exchange(emulator_url).json()["access_token"]
    return value


def test_iam_issues_bearer_tokens_for_the_apikey_grant(emulator_url: str) -> None:
    response = exchange(emulator_url)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["expiration"] - time.time() == pytest.approx(3600, abs=5)
    assert body["access_token"] != exchange(emulator_url).json()["access_token"]


def test_ttl_key_prefix_sets_the_token_lifetime(emulator_url: str) -> None:
    assert exchange(emulator_url, "ttl5-key").json()["expires_in"] == 5


@pytest.mark.parametrize(
    ("form", "headers", "code"),
    [
        ({"apikey": "k"}, FORM, "BXNIM0109E"),
        ({"grant_type": "client_credentials", "apikey": "k"}, FORM, "BXNIM0109E"),
        ({"grant_type": APIKEY_GRANT}, FORM, "BXNIM0109E"),
        ({"grant_type": APIKEY_GRANT, "apikey": "rejected-key"}, FORM, "BXNIM0415E"),
    ],
    ids=["missing grant_type", "wrong grant_type", "missing apikey", "unknown apikey"],
)
def test_iam_refusals_use_iam_error_shape(
    emulator_url: str, form: dict[str, str], headers: dict[str, str], code: str
) -> None:
    response = httpx.post(f"{emulator_url}/identity/token", data=form, headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body["errorCode"] == code
    assert body["errorMessage"]
    assert body["context"]["requestType"] == "incoming.Identity_Token"


def test_iam_requires_a_form_body(emulator_url: str) -> None:
    response = httpx.post(
        f"{emulator_url}/identity/token", json={"grant_type": APIKEY_GRANT, "apikey": "k"}
    )
    assert response.status_code == 400


def test_iam_stats_count_issued_and_refused(emulator_url: str) -> None:
    stats_url = f"{emulator_url}/identity/_emulator/stats"
    before = httpx.get(stats_url).json()
    exchange(emulator_url)
    exchange(emulator_url, "rejected-key")
    after = httpx.get(stats_url).json()
    assert after["issued"] - before["issued"] == 1
    assert after["refused"] - before["refused"] == 1


def test_chat_answers_with_an_issued_token(
    emulator_url: str, token: str, control: EmulatorControl
) -> None:
    response = chat(emulator_url, token)
    assert response.status_code == 200
    body = response.json()
    assert body["model_id"] == MODEL
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "echo: What is 2 plus 4?",
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert (
        body["usage"]["total_tokens"]
        == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    [record] = control.requests()
    assert record["protocol"] == "watsonx" and record["model"] == MODEL
    assert record["query"] == {"version": "2024-05-31"}
    assert token not in str(record)  # only a fingerprint is recorded
    assert len(record["auth"]["token"]) == 12


@pytest.mark.parametrize("credential", [None, "never-issued", "emulator-key"])
def test_chat_refuses_tokens_iam_did_not_issue(emulator_url: str, credential: str | None) -> None:
    response = chat(emulator_url, credential)
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["code"] == "authentication_token_expired"
    assert body["status_code"] == 401 and body["trace"]


def test_chat_refuses_an_expired_token(emulator_url: str) -> None:
    short = exchange(emulator_url, "ttl1-key").json()["access_token"]
    assert chat(emulator_url, short).status_code == 200
    time.sleep(1.1)
    assert chat(emulator_url, short).status_code == 401


@pytest.mark.parametrize("query", ["", "?version=", "?version=yesterday"])
def test_chat_requires_the_version_parameter(emulator_url: str, token: str, query: str) -> None:
    response = chat(emulator_url, token, query=query)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert "version" in error["message"]
    assert error["more_info"] == "https://cloud.ibm.com/apidocs/watsonx-ai"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"project_id": None}, "project_id"),
        ({"model_id": None}, "model_id"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "6"}]}, "tool_call_id"),
        ({"tool_choice_option": "auto", "tool_choice": {"type": "function"}}, "tool_choice"),
    ],
)
def test_invalid_bodies_are_400_in_watsonx_shape(
    emulator_url: str, token: str, change: dict[str, Any], fragment: str
) -> None:
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}
    response = chat(emulator_url, token, body)
    assert response.status_code == 400
    assert fragment in response.json()["errors"][0]["message"]


def test_tool_calls_render_without_content(emulator_url: str, token: str) -> None:
    text = "add " + directive(tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 4}}])
    body = {**BODY, "messages": [{"role": "user", "content": text}]}
    choice = chat(emulator_url, token, body).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert "content" not in choice["message"]
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["function"] == {"name": "add", "arguments": '{"a":2,"b":4}'}

    follow_up = {
        **BODY,
        "messages": [
            {"role": "user", "content": text},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "6"},
        ],
    }
    answer = chat(emulator_url, token, follow_up).json()["choices"][0]
    assert answer["message"]["content"] == "tool results: 6"


def test_scripted_errors_use_watsonx_error_shape(
    emulator_url: str, token: str, control: EmulatorControl
) -> None:
    control.script({"status": 429, "retry_after": 3, "error": "slow down"})
    response = chat(emulator_url, token)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    body = response.json()
    assert body["errors"][0]["message"] == "slow down"
    assert body["status_code"] == 429


SCHEMA = {"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]}


def test_response_format_json_schema_gets_a_conforming_reply(emulator_url: str, token: str) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "sum", "schema": SCHEMA}}
    response = chat(emulator_url, token, {**BODY, "response_format": fmt, "seed": 3})
    content = response.json()["choices"][0]["message"]["content"]
    assert set(json.loads(content)) == {"sum"}


@pytest.mark.parametrize(
    ("fields", "mentions"),
    [
        ({"response_format": {"type": "json_schema", "json_schema": {}}}, "json_schema.name"),
        ({"response_format": {"type": "yaml"}}, "response_format.type"),
        ({"seed": 1.5}, "seed"),
        ({"presence_penalty": 3}, "presence_penalty"),
        ({"reasoning_effort": "minimal"}, "reasoning_effort"),
    ],
)
def test_malformed_generation_fields_get_watsonx_400(
    emulator_url: str, token: str, fields: dict[str, Any], mentions: str
) -> None:
    response = chat(emulator_url, token, {**BODY, **fields})
    assert response.status_code == 400
    assert mentions in response.json()["errors"][0]["message"]
