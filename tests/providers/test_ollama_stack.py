"""The shipped ``ollama`` instance through the real stack: API, queue ``llm.ollama``, the
fleet worker, the Ollama adapter and the emulator's ``/api/chat``. ``llama3.2`` is served
by no other instance. What every fleet vendor does is checked in ``test_stack_all_vendors.py``."""

from __future__ import annotations

from typing import Any

import httpx

from emulator import EmulatorControl, directive
from tests.support.fleet import weather_round_trip
from tests.support.processes import wait_until


def complete(client: httpx.Client, *messages: dict[str, Any], **fields: Any) -> httpx.Response:
    body = {"model": "llama3.2", "messages": list(messages), **fields}
    return client.post("/v1/chat/completions", json=body)


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def test_llama_completion_is_an_unstreamed_api_chat_call(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    response = complete(client_a, user("ping"))
    assert response.status_code == 200, response.text
    [record] = emulator.requests()
    assert record["path"] == "/api/chat"
    assert record["body"]["stream"] is False


def test_system_prompt_reaches_ollama(client_a: httpx.Client, emulator: EmulatorControl) -> None:
    response = complete(client_a, {"role": "system", "content": "You are terse."}, user("hi"))
    assert response.status_code == 200, response.text
    messages = emulator.requests()[-1]["body"]["messages"]
    assert messages == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hi"},
    ]


def test_tool_call_round_trip(client_a: httpx.Client, emulator: EmulatorControl) -> None:
    call = weather_round_trip(lambda *messages, **fields: complete(client_a, *messages, **fields))
    assert call["id"].startswith("call_")  # made up: Ollama's calls have no ids
    sent = emulator.requests()[-1]["body"]["messages"]
    assert sent[-1] == {"role": "tool", "content": "18C and sunny", "tool_name": "get_weather"}


def test_a_missing_model_is_rejected_with_ollamas_message(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    missing = 'model "llama3.2" not found, try pulling it first'
    response = complete(client_a, user(directive(status=404, error=missing)))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["message"]) == ("provider_rejected", missing)
    assert len(emulator.requests()) == 1


def _listed(client: httpx.Client, model: str) -> dict[str, Any] | None:
    models = client.get("/v1/models").json()["data"]
    return next((m for m in models if m["id"] == model), None)


def test_a_newly_pulled_model_routes_and_a_removed_one_stops(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    emulator.set_ollama_models(["llama3.2:latest", "qwen2.5:7b"])
    wait_until(lambda: _listed(client_a, "qwen2.5:7b") is not None, 10, "discovery")
    listed = _listed(client_a, "qwen2.5:7b")
    assert listed is not None
    assert listed["instances"] == ["ollama"] and listed["discovered_on"] == ["ollama"]
    response = client_a.post(
        "/v1/chat/completions",
        json={"model": "qwen2.5:7b", "messages": [user("hello qwen")]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "echo: hello qwen"
    assert emulator.requests()[-1]["protocol"] == "ollama"
    assert emulator.requests()[-1]["model"] == "qwen2.5:7b"

    emulator.set_ollama_models(["llama3.2:latest"])
    wait_until(lambda: _listed(client_a, "qwen2.5:7b") is None, 10, "removal")
    gone = client_a.post(
        "/v1/chat/completions", json={"model": "qwen2.5:7b", "messages": [user("hi")]}
    )
    assert gone.status_code == 400
    assert gone.json()["error"]["type"] == "model_not_found"
