"""The emulated Ollama server at the HTTP level: the documented ``/api/chat`` answer shapes
(streamed by default), what its decoder refuses, and ``/api/tags`` with its control
endpoint. https://github.com/ollama/ollama/blob/main/docs/api.md"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive


@pytest.fixture
def http(emulator_url: str, control: EmulatorControl) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator_url, timeout=10) as client:
        yield client


def chat(content: str, **fields: Any) -> dict[str, Any]:
    return {"model": "llama3.2", "messages": [{"role": "user", "content": content}], **fields}


def test_unstreamed_chat_answers_one_documented_object_without_auth(http: httpx.Client) -> None:
    response = http.post("/api/chat", json=chat("why is the sky blue?", stream=False))
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == {"role": "assistant", "content": "echo: why is the sky blue?"}
    assert (body["model"], body["done"], body["done_reason"]) == ("llama3.2", True, "stop")
    assert body["prompt_eval_count"] > 0 and body["eval_count"] > 0
    assert {"created_at", "total_duration", "load_duration", "eval_duration"} <= body.keys()


def test_chat_streams_ndjson_by_default(http: httpx.Client) -> None:
    response = http.post("/api/chat", json=chat("stream me"))
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert all(not line["done"] for line in lines[:-1])
    assert lines[-1]["done"] is True and lines[-1]["eval_count"] > 0
    assert "".join(line["message"]["content"] for line in lines) == "echo: stream me"


def test_tool_calls_carry_no_ids_and_object_arguments(http: httpx.Client) -> None:
    script = directive(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    body = http.post("/api/chat", json=chat(f"weather {script}", stream=False)).json()
    assert body["message"]["tool_calls"] == [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    ]
    assert body["done_reason"] == "stop"  # as Ollama says after tool calls


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"messages": []}, "model is required"),
        ({"model": "llama3.2", "messages": {}}, "messages must be an array"),
        (
            chat("x")
            | {
                "messages": [
                    {"role": "user", "content": "x", "images": ["data:image/png;base64,AAAA"]}
                ]
            },
            "illegal base64 data at input byte 4",
        ),
        (
            {
                "model": "llama3.2",
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}],
                    }
                ],
            },
            "tool call arguments must be an object, not a string",
        ),
    ],
    ids=["no-model", "messages-not-array", "data-url-as-image", "string-arguments"],
)
def test_malformed_requests_are_400_with_ollamas_error_shape(
    http: httpx.Client, body: dict[str, Any], error: str
) -> None:
    response = http.post("/api/chat", json=body)
    assert (response.status_code, response.json()) == (400, {"error": error})


def test_scripted_errors_use_ollamas_error_shape(http: httpx.Client) -> None:
    missing = 'model "llama9" not found, try pulling it first'
    response = http.post("/api/chat", json=chat(directive(status=404, error=missing), stream=False))
    assert (response.status_code, response.json()) == (404, {"error": missing})


def test_tags_lists_the_models_the_control_api_sets(
    http: httpx.Client, control: EmulatorControl
) -> None:
    [entry] = http.get("/api/tags").json()["models"]
    assert (entry["name"], entry["model"]) == ("llama3.2", "llama3.2")
    assert {"modified_at", "size", "digest", "details"} <= entry.keys()

    control.set_ollama_models(["llama3.2:latest", "mistral:7b"])
    names = [m["name"] for m in http.get("/api/tags").json()["models"]]
    assert names == ["llama3.2:latest", "mistral:7b"]

    control.reset()
    assert control.ollama_models() == ["llama3.2"]


@pytest.mark.parametrize("body", [{}, {"models": "llama3.2"}, {"models": [""]}, {"models": [1]}])
def test_setting_the_model_list_validates_it(
    http: httpx.Client, control: EmulatorControl, body: dict[str, Any]
) -> None:
    response = http.put("/_emulator/ollama/models", json=body)
    assert response.status_code == 400
    assert control.ollama_models() == ["llama3.2"]


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_format_json_schema_gets_a_conforming_reply(http: httpx.Client) -> None:
    body = http.post("/api/chat", json=chat("weather?", stream=False, format=SCHEMA)).json()
    assert set(json.loads(body["message"]["content"])) == {"city"}


def test_format_json_gets_a_json_object(http: httpx.Client) -> None:
    body = http.post("/api/chat", json=chat("weather?", stream=False, format="json")).json()
    assert json.loads(body["message"]["content"]) == {"echo": "weather?"}


def test_logprobs_come_back_beside_the_message_and_on_each_streamed_line(
    http: httpx.Client,
) -> None:
    body = http.post(
        "/api/chat", json=chat("two words", stream=False, logprobs=True, top_logprobs=2)
    ).json()
    assert "".join(e["token"] for e in body["logprobs"]) == body["message"]["content"]
    assert all(len(e["top_logprobs"]) == 2 for e in body["logprobs"])
    lines = [
        json.loads(x)
        for x in http.post("/api/chat", json=chat("a b", logprobs=True)).text.splitlines()
    ]
    for line in lines[:-1]:
        assert [e["token"] for e in line["logprobs"]] == [line["message"]["content"]]
    assert "logprobs" not in http.post("/api/chat", json=chat("x", stream=False)).json()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"options": {"seed": "7"}}, 'option "seed" must be of type integer'),
        ({"options": {"presence_penalty": "x"}}, 'option "presence_penalty" must be of type'),
        ({"format": "yaml"}, "invalid format"),
        ({"think": 3}, "think must be"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ],
)
def test_malformed_generation_fields_are_refused(
    http: httpx.Client, fields: dict[str, Any], error: str
) -> None:
    response = http.post("/api/chat", json=chat("x", stream=False, **fields))
    assert response.status_code == 400
    assert error in response.json()["error"]
