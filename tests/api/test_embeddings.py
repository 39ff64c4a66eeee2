"""``POST /v1/embeddings``, ``embedding`` jobs and ``GET /v1/models/{id}`` through the real
stack: the official ``openai`` SDK against the gateway, every provider type behind it
(API -> the instance's queue -> its worker -> the vendor's adapter -> the emulator)."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from emulator import EmulatorControl, directive
from emulator.embeddings import default_dimensions, embedding_vector
from tests.conftest import KEY_A
from tests.support.processes import Stack


@dataclass(frozen=True)
class Embedder:
    model: str
    instance: str
    wire: str  # the emulator's name for the vendor's endpoint
    wire_model: str  # the model as the vendor's endpoint sees it
    dimensions: bool = True  # whether the vendor's API can shorten vectors


EMBEDDERS = [
    Embedder("text-embedding-3-small", "openai", "openai_embeddings", "text-embedding-3-small"),
    Embedder("text-embedding-3-small", "azure", "azure_embeddings", "text-embedding-3-small-prod"),
    Embedder(
        "amazon.titan-embed-text-v2:0",
        "bedrock-us",
        "bedrock_invoke",
        "amazon.titan-embed-text-v2:0",
    ),
    Embedder(
        "cohere.embed-english-v3",
        "bedrock-us",
        "bedrock_invoke",
        "cohere.embed-english-v3",
        dimensions=False,
    ),
    Embedder("text-embedding-004", "vertex", "vertex_predict", "text-embedding-004"),
    Embedder("gemini-embedding-001", "vertex", "vertex_predict", "gemini-embedding-001"),
    Embedder("nomic-embed-text", "ollama", "ollama_embed", "nomic-embed-text"),
    Embedder(
        "ibm/slate-125m-english-rtrvr",
        "watsonx",
        "watsonx_embeddings",
        "ibm/slate-125m-english-rtrvr",
        dimensions=False,
    ),
    Embedder(
        "cohere.embed-english-v3.0",
        "oci",
        "oci_embed_text",
        "cohere.embed-english-v3.0",
        dimensions=False,
    ),
]
TEXTS = ["The quick brown fox", "jumps over", "the lazy dog."]


@pytest.fixture
def sdk(stack: Stack, emulator: EmulatorControl) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_A, max_retries=0) as client:
        yield client


def tokens(*texts: str) -> int:
    return sum(math.ceil(len(text) / 4) for text in texts)


def floats(data: list[Any]) -> list[list[float]]:
    return [item.embedding for item in data]


@pytest.mark.parametrize("embedder", EMBEDDERS, ids=lambda e: f"{e.instance}-{e.model}")
def test_the_openai_sdk_gets_embeddings_from_every_provider_type(
    sdk: openai.OpenAI, emulator: EmulatorControl, client_a: httpx.Client, embedder: Embedder
) -> None:
    pin = {"provider": embedder.instance}
    size = default_dimensions(embedder.wire_model)

    raw = sdk.embeddings.with_raw_response.create(
        model=embedder.model, input=TEXTS, encoding_format="float", extra_body=pin
    )
    batch = raw.parse()
    assert floats(batch.data) == [embedding_vector(t, size) for t in TEXTS]
    assert [item.index for item in batch.data] == [0, 1, 2]
    assert batch.model == embedder.model
    assert (batch.usage.prompt_tokens, batch.usage.total_tokens) == (tokens(*TEXTS),) * 2
    assert {r["protocol"] for r in emulator.requests()} == {embedder.wire}
    assert {r["model"] for r in emulator.requests()} == {embedder.wire_model}
    job = client_a.get(f"/v1/jobs/{raw.headers['x-llm-gateway-job-id']}").json()
    assert (job["type"], job["status"], job["provider"]) == (
        "embedding",
        "succeeded",
        embedder.instance,
    )

    single = sdk.embeddings.create(
        model=embedder.model, input="jumps over", encoding_format="float", extra_body=pin
    )
    assert floats(single.data) == [embedding_vector("jumps over", size)]

    # The SDK's default: base64, which it decodes itself; and asked for explicitly.
    decoded = sdk.embeddings.create(model=embedder.model, input=TEXTS, extra_body=pin)
    assert floats(decoded.data) == floats(batch.data)
    encoded = sdk.embeddings.create(
        model=embedder.model, input=TEXTS, encoding_format="base64", extra_body=pin
    )
    unpacked = [
        list(struct.unpack(f"<{size}f", base64.b64decode(str(item.embedding))))
        for item in encoded.data
    ]
    assert unpacked == floats(batch.data)


@pytest.mark.parametrize(
    "embedder", [e for e in EMBEDDERS if e.dimensions], ids=lambda e: f"{e.instance}-{e.model}"
)
def test_dimensions_reach_every_provider_type_that_has_them(
    sdk: openai.OpenAI, embedder: Embedder
) -> None:
    shortened = sdk.embeddings.create(
        model=embedder.model,
        input=["a", "b"],
        dimensions=256,
        encoding_format="float",
        extra_body={"provider": embedder.instance},
    )
    assert floats(shortened.data) == [embedding_vector(t, 256) for t in ("a", "b")]


@pytest.mark.parametrize(
    "embedder", [e for e in EMBEDDERS if not e.dimensions], ids=lambda e: f"{e.instance}-{e.model}"
)
def test_dimensions_are_refused_where_the_vendor_cannot_shorten_vectors(
    sdk: openai.OpenAI, emulator: EmulatorControl, embedder: Embedder
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model=embedder.model, input="a", dimensions=256)
    error = caught.value.body
    assert isinstance(error, dict)
    assert (error["type"], error["param"]) == ("unsupported_capability", "dimensions")
    assert embedder.instance in error["message"]
    assert emulator.requests() == []


def test_an_embedding_job_records_usage_and_cost(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    request = {"model": "text-embedding-3-small", "input": TEXTS, "provider": "openai"}
    submitted = client_a.post("/v1/jobs", json={"type": "embedding", "request": request})
    assert submitted.status_code == 202, submitted.text
    job = client_a.get(f"/v1/jobs/{submitted.json()['id']}/wait", params={"timeout": 30}).json()
    assert (job["type"], job["status"], job["model"]) == (
        "embedding",
        "succeeded",
        "text-embedding-3-small",
    )
    used = tokens(*TEXTS)
    assert job["usage"] == {"prompt_tokens": used, "total_tokens": used}
    assert job["cost_usd"] == pytest.approx(used * 0.02 / 1e6)
    result = job["result"]
    assert (result["object"], result["provider"]) == ("list", "openai")
    assert [d["embedding"] for d in result["data"]] == [embedding_vector(t, 1536) for t in TEXTS]


def test_embeddings_count_against_the_instances_limits(
    sdk: openai.OpenAI, client_a: httpx.Client
) -> None:
    # The openai instance has rpm and tpm limits; the texts' estimate is reserved, then
    # settled to what the vendor counted, as for a chat call.
    sdk.embeddings.create(
        model="text-embedding-3-small", input=TEXTS, extra_body={"provider": "openai"}
    )
    providers = client_a.get("/v1/providers").json()["data"]
    [openai_instance] = [p for p in providers if p["name"] == "openai"]
    assert openai_instance["usage"] == {
        "requests_last_minute": 1,
        "tokens_last_minute": tokens(*TEXTS),
    }


def test_a_429_with_retry_after_is_waited_out_and_retried(
    sdk: openai.OpenAI, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    emulator.script({"status": 429, "retry_after": 1})
    raw = sdk.embeddings.with_raw_response.create(
        model="text-embedding-3-small",
        input="retry me",
        encoding_format="float",
        extra_body={"provider": "openai"},
    )
    assert floats(raw.parse().data) == [embedding_vector("retry me", 1536)]
    limited, served = emulator.requests()
    assert (limited["status"], served["status"]) == (429, 200)
    assert served["t"] - limited["t"] >= 0.9
    job = client_a.get(f"/v1/jobs/{raw.headers['x-llm-gateway-job-id']}").json()
    assert job["attempts"] == 2


def test_a_failing_instance_falls_back_to_another_serving_the_model_for_embeddings(
    sdk: openai.OpenAI, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    emulator.script({"status": 503})
    raw = sdk.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="fall back", encoding_format="float"
    )
    assert len(raw.parse().data) == 1
    failed, served = emulator.requests()
    assert (failed["status"], served["status"]) == (503, 200)
    # Usually openai first (priority 0); azure first if the API still sees openai cooling
    # down from an earlier test's 429. Either way the other one serves.
    instances = {"openai_embeddings": "openai", "azure_embeddings": "azure"}
    assert {failed["protocol"], served["protocol"]} == set(instances)
    job = client_a.get(f"/v1/jobs/{raw.headers['x-llm-gateway-job-id']}").json()
    assert job["provider"] == instances[served["protocol"]]


def test_a_provider_rejection_reaches_the_sdk_as_its_error(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(
            model="text-embedding-3-small",
            input="x " + directive(status=400, error="input too long"),
            extra_body={"provider": "openai"},
        )
    assert caught.value.response.headers["x-llm-gateway-job-id"].startswith("job_")
    assert "input too long" in str(caught.value.body)


def test_a_chat_model_refuses_embeddings_and_an_embedding_model_refuses_chat(
    sdk: openai.OpenAI, emulator: EmulatorControl
) -> None:
    with pytest.raises(openai.BadRequestError, match="is a chat model") as caught:
        sdk.embeddings.create(model="gpt-4o-mini", input="x")
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError, match="is an embedding model"):
        sdk.chat.completions.create(
            model="text-embedding-3-small", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.BadRequestError, match="unknown model"):
        sdk.embeddings.create(model="no-such-embedder", input="x")
    assert emulator.requests() == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "text-embedding-3-small"}, "input"),
        ({"model": "text-embedding-3-small", "input": ""}, "input"),
        ({"model": "text-embedding-3-small", "input": []}, "input"),
        ({"model": "text-embedding-3-small", "input": ["x"] * 2049}, "input"),
        ({"model": "text-embedding-3-small", "input": ["a", 1]}, "input[1]"),
        ({"model": "text-embedding-3-small", "input": [[1, 2]]}, "input"),
        ({"model": "text-embedding-3-small", "input": "a", "dimensions": 0}, "dimensions"),
        (
            {"model": "text-embedding-3-small", "input": "a", "encoding_format": "hex"},
            "encoding_format",
        ),
        ({"model": "text-embedding-3-small", "input": "a", "top_k": 3}, "top_k"),
        ({"input": "a"}, "model"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_on_both_endpoints(
    client_a: httpx.Client, emulator: EmulatorControl, body: dict[str, Any], param: str
) -> None:
    direct = client_a.post("/v1/embeddings", json=body)
    as_job = client_a.post("/v1/jobs", json={"type": "embedding", "request": body})
    for response in (direct, as_job):
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert emulator.requests() == []


def test_another_tenants_embedding_job_is_not_found(
    client_a: httpx.Client, client_b: httpx.Client
) -> None:
    request = {"model": "nomic-embed-text", "input": "mine"}
    job = client_a.post("/v1/jobs", json={"type": "embedding", "request": request}).json()
    response = client_b.get(f"/v1/jobs/{job['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_an_embedding_job_takes_no_session(client_a: httpx.Client) -> None:
    request = {"model": "nomic-embed-text", "input": "x"}
    response = client_a.post(
        "/v1/jobs", json={"type": "embedding", "request": request, "session_id": "s-1"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "session_id"


# --- models ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kind", "owner"),
    [
        ("text-embedding-3-small", "embedding", "openai"),
        ("ibm/slate-125m-english-rtrvr", "embedding", "watsonx"),
        ("amazon.titan-embed-text-v2:0", "embedding", "bedrock"),
        ("gpt-4o-mini", "chat", "openai"),
        ("gpt-5-preview", "chat", "openai"),  # by the instance's pattern
    ],
)
def test_models_retrieve_knows_every_routable_model_and_its_kind(
    sdk: openai.OpenAI, model: str, kind: str, owner: str
) -> None:
    found = sdk.models.retrieve(model)
    assert (found.id, found.object, found.owned_by) == (model, "model", owner)
    assert found.model_extra is not None and found.model_extra["kind"] == kind


def test_models_retrieve_of_an_unknown_model_is_not_found(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.models.retrieve("no-such/model:1")
    assert isinstance(caught.value.body, dict)
    assert (caught.value.body["type"], caught.value.body["param"]) == ("not_found", "model")


def test_the_model_list_includes_embedding_models_with_their_kind(sdk: openai.OpenAI) -> None:
    kinds = {m.id: (m.model_extra or {})["kind"] for m in sdk.models.list()}
    assert kinds["text-embedding-3-small"] == kinds["nomic-embed-text"] == "embedding"
    assert kinds["gpt-4o-mini"] == kinds["llama3.2"] == "chat"
