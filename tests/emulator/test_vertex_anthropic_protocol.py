"""The emulated Claude on Vertex AI: Anthropic's Messages protocol at Vertex's
``rawPredict`` / ``streamRawPredict`` paths, behind the Google token check and Vertex's
envelope (no ``model`` in the body, ``anthropic_version`` in it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from starlette.testclient import TestClient

from emulator import EmulatorControl, create_app
from emulator.protocols.google_oauth import JWT_BEARER
from tests.emulator.test_vertex_protocol import jwt, token

MODEL = "claude-sonnet-4-5@20250929"
RAW = "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/{}:rawPredict"
HELLO: dict[str, Any] = {
    "anthropic_version": "vertex-2023-10-16",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.fixture
def app() -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def predict(app: TestClient, body: Any = HELLO, *, bearer: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {bearer or token(app)}"}
    return app.post(RAW.format(MODEL), json=body, headers=headers)


def test_raw_predict_answers_an_anthropic_message_for_the_paths_model(app: TestClient) -> None:
    answer = predict(app)
    assert answer.status_code == 200
    message = answer.json()
    assert (message["type"], message["model"], message["stop_reason"]) == (
        "message",
        MODEL,
        "end_turn",
    )
    assert message["content"] == [{"type": "text", "text": "echo: hi"}]
    [record] = app.get("/_emulator/requests").json()["requests"]
    assert record["protocol"] == "vertex_anthropic"


def test_stream_raw_predict_answers_the_messages_event_sequence(app: TestClient) -> None:
    path = RAW.format(MODEL).replace(":rawPredict", ":streamRawPredict")
    headers = {"Authorization": f"Bearer {token(app)}"}
    streamed = app.post(path, json={**HELLO, "stream": True}, headers=headers)
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in streamed.text.splitlines() if line[:6] == "data: "]
    kinds = [e["type"] for e in events]
    assert (kinds[0], kinds[-1]) == ("message_start", "message_stop")
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == "echo: hi"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param({**HELLO, "model": MODEL}, "model", id="model-in-body"),
        pytest.param({**HELLO, "anthropic_version": "2023-06-01"}, "anthropic_version", id="ver"),
        pytest.param({k: v for k, v in HELLO.items() if k != "anthropic_version"}, "anthropic_"),
        pytest.param({**HELLO, "max_tokens": None}, "max_tokens", id="messages-checks-apply"),
    ],
)
def test_a_body_outside_vertexs_envelope_is_a_400(app: TestClient, body: Any, param: str) -> None:
    answer = predict(app, body)
    assert answer.status_code == 400
    assert answer.json()["type"] == "error"
    assert answer.json()["error"]["message"].startswith(param)


def test_only_a_token_from_the_google_token_endpoint_is_accepted(app: TestClient) -> None:
    answer = app.post(RAW.format(MODEL), json=HELLO, headers={"x-api-key": "sk-ant-x"})
    assert answer.status_code == 401
    assert predict(app, bearer="not-issued").status_code == 401
    assert predict(app).status_code == 200


def test_the_sdks_vertex_client_reaches_it(emulator_url: str, control: EmulatorControl) -> None:
    # The SDK builds the path (the "@" left unescaped) and moves model out of the body. It
    # sends its own API version unless given the one Anthropic documents for Vertex.
    exchange = {"grant_type": JWT_BEARER, "assertion": jwt()}
    access = httpx.post(emulator_url + "/token", data=exchange).json()["access_token"]
    with anthropic.AnthropicVertex(
        region="us-east5",
        project_id="proj",
        access_token=access,
        base_url=emulator_url + "/v1",
        max_retries=0,
    ) as client:
        message = client.messages.create(
            model=MODEL,
            max_tokens=32,
            messages=[{"role": "user", "content": "ping"}],
            extra_body={"anthropic_version": "vertex-2023-10-16"},
        )
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [("text", "echo: ping")]
    [record] = control.requests()
    assert record["path"] == (
        f"/v1/projects/proj/locations/us-east5/publishers/anthropic/models/{MODEL}:rawPredict"
    )
    assert "model" not in record["body"]
