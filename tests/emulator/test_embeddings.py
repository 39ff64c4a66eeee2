"""The emulated embeddings endpoints at the HTTP level: deterministic unit vectors of the
requested size, token counts, each vendor's validation and error shape, directives and
scripted behaviours, and what is recorded. The adapters' side is
``tests/providers/test_embedding_adapters.py``."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from emulator import EmulatorControl, directive
from emulator.embeddings import embedding_vector

# A well-formed SigV4 header (the emulator checks its shape, not the signature).
SIGV4 = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAEMULATORTEST0001/20250101/us-east-1/"
    "bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, "
    "Signature=" + "0123456789abcdef" * 4,
    "x-amz-date": "20250101T120000Z",
}


@pytest.fixture
def http(emulator_url: str, control: EmulatorControl) -> Iterator[httpx.Client]:
    headers = {"Authorization": "Bearer test"}
    with httpx.Client(base_url=emulator_url, timeout=10, headers=headers) as client:
        yield client


def post(http: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST with the credentials the path's vendor wants."""
    return http.post(path, json=body, headers=SIGV4 if path.startswith("/model/") else {})


def test_vectors_are_unit_length_float32_and_depend_on_the_text_alone() -> None:
    vector = embedding_vector("hello", 64)
    assert len(vector) == 64
    assert math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-5)
    assert vector == list(struct.unpack("<64f", struct.pack("<64f", *vector)))
    assert embedding_vector("hello", 64) == vector
    assert embedding_vector("hello " + directive(latency_ms=1), 64) == vector
    assert embedding_vector("hellO", 64) != vector


def test_the_openai_sdk_gets_floats_and_base64_that_decode_to_them(oai: openai.OpenAI) -> None:
    floats = oai.embeddings.create(
        model="text-embedding-3-small", input=["a", "bb"], encoding_format="float"
    )
    assert [len(d.embedding) for d in floats.data] == [1536, 1536]
    assert floats.data[1].embedding == embedding_vector("bb", 1536)
    assert (floats.usage.prompt_tokens, floats.usage.total_tokens) == (2, 2)
    # The SDK asks for base64 by default and decodes it itself.
    decoded = oai.embeddings.create(model="text-embedding-3-small", input="bb", dimensions=8)
    assert decoded.data[0].embedding == embedding_vector("bb", 8)


def test_base64_is_float32_little_endian(http: httpx.Client) -> None:
    body = {"model": "text-embedding-3-small", "input": "x", "encoding_format": "base64"}
    data = http.post("/v1/embeddings", json=body).json()["data"][0]["embedding"]
    assert list(struct.unpack("<1536f", base64.b64decode(data))) == embedding_vector("x", 1536)


@pytest.mark.parametrize(
    ("path", "body", "status", "text"),
    [
        ("/v1/embeddings", {"model": "m", "input": []}, 400, "non-empty list"),
        ("/v1/embeddings", {"model": "m", "input": "x", "foo": 1}, 400, "Unrecognized"),
        (
            "/v1/embeddings",
            {"model": "text-embedding-ada-002", "input": "x", "dimensions": 8},
            400,
            "does not support specifying dimensions",
        ),
        ("/model/cohere.embed-english-v3/invoke", {"texts": ["a"]}, 400, "input_type"),
        (
            "/model/amazon.titan-embed-text-v2:0/invoke",
            {"inputText": "a", "dimensions": 100},
            400,
            "256, 512 or 1024",
        ),
        ("/model/meta.llama3-8b-instruct-v1:0/invoke", {"inputText": "a"}, 400, "identifier"),
        ("/api/embed", {"input": "a"}, 400, "model is required"),
    ],
)
def test_each_vendor_refuses_what_its_api_refuses(
    http: httpx.Client, path: str, body: dict[str, Any], status: int, text: str
) -> None:
    response = post(http, path, body)
    assert response.status_code == status
    assert text in response.text


def test_credentials_are_the_vendors_chat_services(http: httpx.Client) -> None:
    # Bedrock wants SigV4, Vertex a token its token endpoint issued.
    titan = {"inputText": "a"}
    assert http.post("/model/amazon.titan-embed-text-v2:0/invoke", json=titan).status_code == 403
    vertex = "/v1/projects/p/locations/l/publishers/google/models/text-embedding-004:predict"
    assert http.post(vertex, json={"instances": [{"content": "a"}]}).status_code == 401


def test_directives_script_errors_in_the_vendors_shape(
    http: httpx.Client, control: EmulatorControl
) -> None:
    text = "x " + directive(status=429, retry_after=3, error="slow down")
    response = http.post("/v1/embeddings", json={"model": "m", "input": text})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"]["message"] == "slow down"
    ollama = http.post("/api/embed", json={"model": "m", "input": ["a", text]})
    assert (ollama.status_code, ollama.json()) == (429, {"error": "slow down"})


def test_a_scripted_behaviour_applies_to_the_next_embedding_request(
    http: httpx.Client, control: EmulatorControl
) -> None:
    control.script({"status": 503}, {"usage": {"prompt_tokens": 42}})
    assert http.post("/v1/embeddings", json={"model": "m", "input": "a"}).status_code == 503
    ok = http.post("/v1/embeddings", json={"model": "m", "input": ["a", "b"]}).json()
    assert ok["usage"] == {"prompt_tokens": 42, "total_tokens": 42}


def test_requests_are_recorded_with_their_usage(
    http: httpx.Client, control: EmulatorControl
) -> None:
    http.post("/api/embed", json={"model": "nomic-embed-text", "input": ["abcde", "f"]})
    [record] = control.requests()
    assert (record["protocol"], record["model"], record["status"]) == (
        "ollama_embed",
        "nomic-embed-text",
        200,
    )
    assert record["usage"] == {"prompt_tokens": 3, "completion_tokens": 0}
    assert record["body"]["input"] == ["abcde", "f"]
    assert record["t_done"] >= record["t"]


def test_a_malformed_reply_breaks_the_answer_field(http: httpx.Client) -> None:
    text = "x " + directive(malformed="missing_fields")
    body = http.post("/v1/embeddings", json={"model": "m", "input": text}).json()
    assert "data" not in body and body["object"] == "list"


def test_bedrock_cohere_counts_tokens_in_a_header_only(http: httpx.Client) -> None:
    body = {"texts": ["abcd", "efghi"], "input_type": "search_query"}
    response = post(http, "/model/cohere.embed-english-v3/invoke", body)
    assert response.status_code == 200
    assert response.headers["x-amzn-bedrock-input-token-count"] == "3"
    answer = response.json()
    assert (answer["response_type"], answer["texts"]) == ("embeddings_floats", ["abcd", "efghi"])
    assert answer["embeddings"] == [embedding_vector(t, 1024) for t in ("abcd", "efghi")]
