"""The emulated Vertex AI protocol: its OAuth token endpoint, Bearer check, path routing and
Google-shaped errors. The adapter tests cover the happy paths through google-auth."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.transport.requests import Request
from google.oauth2 import service_account
from starlette.testclient import TestClient

from emulator import create_app, directive
from emulator.local_env import service_account as key_file
from emulator.protocols.google_oauth import EXCHANGES_PATH, JWT_BEARER

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GENERATE = "/v1/projects/proj/locations/us-central1/publishers/google/models/{}:generateContent"
HELLO = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.fixture
def app() -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def jwt(header: dict[str, Any] | None = None, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": "sa@p.iam.gserviceaccount.com", "scope": SCOPE, "iat": now, "exp": now + 3600}
    body["aud"] = "https://oauth2.googleapis.com/token"
    body = {k: v for k, v in {**body, **claims}.items() if v is not None}
    return ".".join((segment(header or {"alg": "RS256", "typ": "JWT"}), segment(body), "c2ln"))


def exchange(app: TestClient, assertion: str, grant: str = JWT_BEARER) -> Any:
    return app.post("/token", data={"grant_type": grant, "assertion": assertion})


def token(app: TestClient) -> str:
    answer = exchange(app, jwt())
    assert answer.status_code == 200
    issued: str = answer.json()["access_token"]
    return issued


def generate(app: TestClient, bearer: str | None, body: Any = HELLO, model: str = "m") -> Any:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return app.post(GENERATE.format(model), json=body, headers=headers)


def test_stream_generate_content_answers_server_sent_events_and_only_those(
    app: TestClient,
) -> None:
    headers = {"Authorization": f"Bearer {token(app)}"}
    path = GENERATE.format("m").replace(":generateContent", ":streamGenerateContent")
    streamed = app.post(path + "?alt=sse", json=HELLO, headers=headers)
    assert streamed.headers["content-type"] == "text/event-stream"
    chunks = [json.loads(line[6:]) for line in streamed.text.splitlines() if line]
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == "echo: hi"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    # Without alt=sse Google answers one JSON array, which the emulator does not serve.
    assert app.post(path, json=HELLO, headers=headers).status_code == 400


def test_google_auth_exchanges_a_signed_jwt_for_a_token_the_api_accepts(
    emulator_url: str,
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    info = key_file(pem.decode(), emulator_url + "/token")
    credentials = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])  # type: ignore[no-untyped-call]
    credentials.refresh(Request())
    assert credentials.token.startswith("ya29.")
    assert credentials.expiry is not None
    with TestClient(create_app()) as other:
        # Tokens are per emulator: another app never issued this one.
        assert generate(other, credentials.token).status_code == 401


def test_token_endpoint_answers_like_googles(app: TestClient) -> None:
    answer = exchange(app, jwt())
    assert answer.status_code == 200
    body = answer.json()
    assert (body["expires_in"], body["token_type"]) == (3600, "Bearer")
    [seen] = app.get(EXCHANGES_PATH).json()["exchanges"]
    assert (seen["iss"], seen["scope"]) == ("sa@p.iam.gserviceaccount.com", SCOPE)


@pytest.mark.parametrize(
    ("assertion", "problem"),
    [
        ("not-a-jwt", "header.claims.signature"),
        (jwt({"alg": "HS256"}), "RS256"),
        (jwt(scope=None), "'scope' is missing"),
        (jwt(iat=1, exp=2), "short-lived"),
        (jwt(aud="https://example.com/elsewhere"), "audience"),
        ("e30.e30.", "header.claims.signature"),
    ],
)
def test_token_endpoint_refuses_malformed_assertions(
    app: TestClient, assertion: str, problem: str
) -> None:
    answer = exchange(app, assertion)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert problem in answer.json()["error_description"]


def test_token_endpoint_refuses_other_grants(app: TestClient) -> None:
    answer = exchange(app, jwt(), grant="client_credentials")
    assert (answer.status_code, answer.json()["error"]) == (400, "unsupported_grant_type")


@pytest.mark.parametrize("bearer", [None, "ya29.made-up"])
def test_generate_content_needs_an_issued_token(app: TestClient, bearer: str | None) -> None:
    answer = generate(app, bearer)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == 401
    assert answer.json()["error"]["status"] == "UNAUTHENTICATED"


def test_the_model_comes_from_the_path_before_the_method_suffix(app: TestClient) -> None:
    answer = generate(app, token(app), model="gemini-2.5-pro")
    assert answer.status_code == 200
    body = answer.json()
    assert body["modelVersion"] == "gemini-2.5-pro"
    assert body["candidates"][0]["content"] == {"role": "model", "parts": [{"text": "echo: hi"}]}
    assert body["usageMetadata"] == {
        "promptTokenCount": 1,
        "candidatesTokenCount": 2,
        "totalTokenCount": 3,
    }
    record = app.get("/_emulator/requests").json()["requests"][-1]
    assert (record["protocol"], record["model"]) == ("vertex", "gemini-2.5-pro")
    other_method = GENERATE.format("m").replace(":generateContent", ":computeTokens")
    assert app.post(other_method, json=HELLO).status_code == 404


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "INVALID_ARGUMENT"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ],
)
def test_scripted_errors_use_googles_shape(app: TestClient, status: int, name: str) -> None:
    script = directive(status=status, error="boom", retry_after=3)
    body = {"contents": [{"role": "user", "parts": [{"text": script}]}]}
    answer = generate(app, token(app), body)
    assert answer.status_code == status
    assert answer.json() == {"error": {"code": status, "message": "boom", "status": name}}
    assert answer.headers["retry-after"] == "3"


def test_tool_results_after_a_function_call_drive_the_loop(app: TestClient) -> None:
    script = directive(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    ask = {"role": "user", "parts": [{"text": f"weather? {script}"}]}
    first = generate(app, token(app), {"contents": [ask]}).json()
    call = first["candidates"][0]["content"]["parts"][0]
    assert call == {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    reply = {"name": "get_weather", "response": {"output": "18C"}}
    turns = [
        ask,
        {"role": "model", "parts": [call]},
        {"role": "user", "parts": [{"function_response": reply}]},
    ]
    second = generate(app, token(app), {"contents": turns}).json()
    assert second["candidates"][0]["content"]["parts"] == [{"text": "tool results: 18C"}]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"contents": []}, "contents"),
        ({**HELLO, "prompt": "x"}, 'Unknown name "prompt"'),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, "parts"),
        ({"contents": [{"parts": [{"image": "x"}]}]}, 'Unknown name "image"'),
        (
            {
                **HELLO,
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parameters": {"type": "object", "additionalProperties": False},
                            }
                        ]
                    }
                ],
            },
            'Unknown name "additionalProperties"',
        ),
        ({**HELLO, "generationConfig": {"maxOutputTokens": 0}}, "maxOutputTokens"),
    ],
)
def test_requests_are_parsed_as_strictly_as_protobuf_json(
    app: TestClient, body: dict[str, Any], problem: str
) -> None:
    answer = generate(app, token(app), body)
    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert problem in answer.json()["error"]["message"]
