"""The emulator's Bedrock ``CountTokens`` and Vertex ``:countTokens`` endpoints: each counts
a request as its generation's input tokens, checks credentials and the request as the vendor
does, answers in the vendor's shape and honours scripted failures."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import httpx
import pytest
from starlette.testclient import TestClient

from emulator import EmulatorControl, create_app, directive
from emulator.protocols.google_oauth import JWT_BEARER

CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
CONVERSE: dict[str, Any] = {
    "system": [{"text": "You are terse."}],
    "messages": [{"role": "user", "content": [{"text": "how many tokens is this prompt?"}]}],
}
MODELS = "/v1/projects/proj/locations/us-central1/publishers/google/models/gemini-2.5-flash"
GEMINI: dict[str, Any] = {
    "systemInstruction": {"parts": [{"text": "You are terse."}]},
    "contents": [{"role": "user", "parts": [{"text": "how many tokens is this prompt?"}]}],
}


@pytest.fixture
def bedrock(emulator_url: str, control: EmulatorControl) -> Iterator[Any]:
    """boto3's bedrock-runtime client pointed at the emulator, retries off."""
    session = boto3.session.Session(
        aws_access_key_id="AKIAEMULATORTEST0001", aws_secret_access_key="emulator-test-secret-01"
    )
    client = session.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=emulator_url,
        config=botocore.config.Config(retries={"total_max_attempts": 1}, signature_version="v4"),
    )
    yield client
    client.close()


# --- Bedrock CountTokens -----------------------------------------------------------------------


def test_bedrock_counts_converse_input_as_converse_counts_its_input_tokens(
    bedrock: Any, control: EmulatorControl
) -> None:
    counted = bedrock.count_tokens(modelId=CLAUDE, input={"converse": CONVERSE})
    generated = bedrock.converse(modelId=CLAUDE, **CONVERSE)
    assert counted["inputTokens"] == generated["usage"]["inputTokens"] > 0
    first = control.requests()[0]
    assert first["path"] == f"/model/{CLAUDE}/count-tokens"
    assert (first["model"], first["status"]) == (CLAUDE, 200)
    assert first["body"] == {"input": {"converse": CONVERSE}}
    assert first["auth"]["service"] == "bedrock"


def test_bedrock_count_needs_a_sigv4_signature(emulator_url: str) -> None:
    body = {"input": {"converse": CONVERSE}}
    response = httpx.post(f"{emulator_url}/model/{CLAUDE}/count-tokens", json=body)
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "AccessDeniedException"


# A well-formed SigV4 header: boto3 checks a request against its model before sending it,
# so what the service itself must refuse is posted raw.
SIGNED = {
    "authorization": (
        "AWS4-HMAC-SHA256 Credential=AKIAEMULATORTEST0001/20250101/us-east-1/bedrock/"
        "aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" + "0a" * 32
    ),
    "x-amz-date": "20250101T120000Z",
}


@pytest.mark.parametrize(
    ("count_input", "message"),
    [
        ({"converse": {**CONVERSE, "inferenceConfig": {"maxTokens": 5}}}, "inferenceConfig"),
        ({"converse": {"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}}, "user"),
        ({"invokeModel": {"body": "e30="}}, "converse input only"),
        ({}, "exactly one"),
    ],
)
def test_bedrock_count_refuses_what_count_tokens_would(
    emulator_url: str, count_input: dict[str, Any], message: str
) -> None:
    url = f"{emulator_url}/model/{CLAUDE}/count-tokens"
    response = httpx.post(url, json={"input": count_input}, headers=SIGNED)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "ValidationException"
    assert message in response.json()["message"]


def test_bedrock_count_honours_a_scripted_failure(bedrock: Any) -> None:
    script = directive(status=429, retry_after=3, error="slow down")
    messages = [{"role": "user", "content": [{"text": script}]}]
    with pytest.raises(botocore.exceptions.ClientError) as info:
        bedrock.count_tokens(modelId=CLAUDE, input={"converse": {"messages": messages}})
    response = info.value.response
    assert (response["Error"]["Code"], response["Error"]["Message"]) == (
        "ThrottlingException",
        "slow down",
    )
    assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "3"


# --- Vertex countTokens ------------------------------------------------------------------------


@pytest.fixture
def vertex() -> Iterator[TestClient]:
    """The emulator in process, with a Bearer token from its token endpoint."""
    with TestClient(create_app()) as client:
        client.headers["Authorization"] = f"Bearer {_token(client)}"
        yield client


def _token(client: TestClient) -> str:
    def segment(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {
        "iss": "sa@p.iam.gserviceaccount.com",
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "aud": "https://oauth2.googleapis.com/token",
        "iat": now,
        "exp": now + 3600,
    }
    assertion = ".".join((segment({"alg": "RS256", "typ": "JWT"}), segment(claims), "c2ln"))
    answer = client.post("/token", data={"grant_type": JWT_BEARER, "assertion": assertion})
    token: str = answer.json()["access_token"]
    return token


def test_vertex_counts_contents_as_generate_content_counts_its_prompt(vertex: TestClient) -> None:
    counted = vertex.post(f"{MODELS}:countTokens", json=GEMINI)
    generated = vertex.post(f"{MODELS}:generateContent", json=GEMINI)
    assert counted.status_code == 200, counted.text
    total = counted.json()["totalTokens"]
    assert total == generated.json()["usageMetadata"]["promptTokenCount"] > 0
    assert counted.json()["promptTokensDetails"] == [{"modality": "TEXT", "tokenCount": total}]
    record = vertex.get("/_emulator/requests").json()["requests"][0]
    assert (record["path"], record["model"]) == (f"{MODELS}:countTokens", "gemini-2.5-flash")
    assert "token_exchanged_at" in record["auth"]


def test_vertex_count_needs_an_issued_token(vertex: TestClient) -> None:
    response = vertex.post(
        f"{MODELS}:countTokens", json=GEMINI, headers={"Authorization": "Bearer forged"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}}, '"toolConfig"'),
        ({"labels": {"team": "a"}}, '"labels"'),
        ({"contents": []}, "contents"),
    ],
)
def test_vertex_count_refuses_what_count_tokens_request_lacks(
    vertex: TestClient, extra: dict[str, Any], message: str
) -> None:
    response = vertex.post(f"{MODELS}:countTokens", json={**GEMINI, **extra})
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert message in response.json()["error"]["message"]


def test_vertex_count_honours_a_scripted_failure(vertex: TestClient) -> None:
    script = directive(status=503, error="overloaded")
    body = {"contents": [{"role": "user", "parts": [{"text": script}]}]}
    response = vertex.post(f"{MODELS}:countTokens", json=body)
    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": 503,
        "message": "overloaded",
        "status": "UNAVAILABLE",
    }
