"""The ``malformed`` directive: a 200 whose body no client can read, built from the reply the
protocol would have sent so only the one defect differs (``emulator.malformed``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive
from emulator.directives import Directive, DirectiveError
from emulator.malformed import HTML_PAGE, INVALID_JSON


@pytest.fixture
def http(emulator_url: str, control: EmulatorControl) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator_url, timeout=10) as client:
        yield client


def openai_chat(http: httpx.Client, text: str, **fields: Any) -> httpx.Response:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **fields}
    return http.post("/v1/chat/completions", json=body, headers={"authorization": "Bearer k"})


def ollama_chat(http: httpx.Client, text: str) -> httpx.Response:
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": text}], "stream": False}
    return http.post("/api/chat", json=body)


def test_invalid_json_is_a_200_labelled_json_that_does_not_parse(http: httpx.Client) -> None:
    response = openai_chat(http, directive(malformed="invalid_json"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == INVALID_JSON
    with pytest.raises(json.JSONDecodeError, match="Expecting property name"):
        json.loads(response.content)


def test_not_object_is_a_json_array(http: httpx.Client) -> None:
    response = openai_chat(http, directive(malformed="not_object"))
    assert response.status_code == 200
    assert response.json() == ["not", "an", "object"]


def test_truncated_is_the_first_half_of_the_real_reply(http: httpx.Client) -> None:
    whole = openai_chat(http, "hello").content
    response = openai_chat(http, "hello " + directive(malformed="truncated"))
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    # Same shape, different ids: the cut lands about half way, inside the object.
    assert response.content.startswith(b'{"id":"chatcmpl-')
    assert abs(len(response.content) - len(whole) // 2) <= 2
    with pytest.raises(json.JSONDecodeError, match=r"Unterminated|Expecting"):
        json.loads(response.content)


def test_wrong_content_type_is_an_html_page(http: httpx.Client) -> None:
    response = openai_chat(http, directive(malformed="wrong_content_type"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == HTML_PAGE


@pytest.mark.parametrize(
    ("send", "answer_field"),
    [(openai_chat, "choices"), (ollama_chat, "message")],
)
def test_missing_fields_drops_only_the_protocols_answer_field(
    http: httpx.Client, send: Any, answer_field: str
) -> None:
    whole = send(http, "hello").json()
    response = send(http, "hello " + directive(malformed="missing_fields"))
    assert response.status_code == 200
    body = response.json()
    assert answer_field in whole and answer_field not in body
    assert set(body) == set(whole) - {answer_field}


def test_a_streamed_request_gets_the_same_broken_body(http: httpx.Client) -> None:
    response = openai_chat(http, directive(malformed="not_object"), stream=True)
    assert (response.status_code, response.json()) == (200, ["not", "an", "object"])


def test_status_wins_over_malformed(http: httpx.Client) -> None:
    response = openai_chat(http, directive(malformed="invalid_json", status=503))
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "server_error"


def test_malformed_replies_are_recorded_as_200s_and_scriptable(
    http: httpx.Client, control: EmulatorControl
) -> None:
    control.script({"malformed": "not_object"})
    assert openai_chat(http, "hi").json() == ["not", "an", "object"]
    assert openai_chat(http, "hi").json()["choices"][0]["message"]["content"] == "echo: hi"
    assert [entry["status"] for entry in control.requests()] == [200, 200]


def test_an_unknown_malformed_kind_is_a_400_naming_it(http: httpx.Client) -> None:
    response = openai_chat(http, directive(malformed="garbled"))
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "unknown malformed kind 'garbled'"
    with pytest.raises(DirectiveError, match="wrong type"):
        Directive.from_json({"malformed": 1})
