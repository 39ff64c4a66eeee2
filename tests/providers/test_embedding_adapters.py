"""Every adapter's ``embed``, against the emulator over real HTTP through the vendor's own
SDK or HTTP client: vectors in order, usage, the vendor's wire shape (what arrived is what
the emulator recorded), batching to the vendor's per-call limits, ``dimensions`` carried,
and each failure mapped like a chat call's."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator import EmulatorControl, directive
from emulator.embeddings import embedding_vector
from gateway.errors import (
    CapabilityMissing,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from providers.base import Provider
from providers.embeddings import EmbeddingRequest
from providers.upstream_errors import MALFORMED_REPLY
from tests.support.vendors import VENDORS, VendorKit


@dataclass(frozen=True)
class EmbeddingVendor:
    kind: str  # the key of ``VENDORS``
    model: str  # the upstream name (Azure: the deployment)
    wire: str  # the emulator's name for the endpoint
    size: int  # the emulated model's vectors without ``dimensions``
    # Where ``dimensions`` travels in the recorded body.
    dimensions_at: tuple[str, ...]


EMBEDDERS = {
    "openai": EmbeddingVendor(
        "openai", "text-embedding-3-small", "openai_embeddings", 1536, ("dimensions",)
    ),
    "azure_openai": EmbeddingVendor(
        "azure_openai", "text-embedding-3-small", "azure_embeddings", 1536, ("dimensions",)
    ),
    "bedrock": EmbeddingVendor(
        "bedrock", "amazon.titan-embed-text-v2:0", "bedrock_invoke", 1024, ("dimensions",)
    ),
    "vertex": EmbeddingVendor(
        "vertex",
        "text-embedding-004",
        "vertex_predict",
        768,
        ("parameters", "outputDimensionality"),
    ),
    "ollama": EmbeddingVendor("ollama", "nomic-embed-text", "ollama_embed", 768, ("dimensions",)),
    "oci": EmbeddingVendor(
        "oci", "cohere.embed-v4:0", "oci_embed_text", 1536, ("outputDimensions",)
    ),
    "watsonx": EmbeddingVendor(
        "watsonx", "ibm/slate-125m-english-rtrvr", "watsonx_embeddings", 768, ()
    ),
}
TEXTS = ("The quick brown fox", "jumps over", "the lazy dog.")


@pytest.fixture(scope="module", params=list(EMBEDDERS))
def vendor(request: pytest.FixtureRequest) -> EmbeddingVendor:
    return EMBEDDERS[request.param]


@pytest.fixture(scope="module")
def kit(
    vendor: EmbeddingVendor, provider_emulator_url: str, tmp_path_factory: pytest.TempPathFactory
) -> VendorKit:
    return VENDORS[vendor.kind](provider_emulator_url, tmp_path_factory.mktemp(vendor.kind))


@pytest.fixture
def provider(
    kit: VendorKit,
    emulator_control: EmulatorControl,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Provider]:
    if kit.isolate:
        kit.isolate(monkeypatch, tmp_path)
    adapter = kit.build()
    yield adapter
    adapter.close()


def embed(provider: Provider, model: str, *texts: str, **fields: Any) -> Any:
    return provider.embed(EmbeddingRequest(model=model, inputs=texts, **fields))


def tokens(*texts: str) -> int:
    return sum(math.ceil(len(text) / 4) for text in texts)


def at(body: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        body = body[key]
    return body


# --- every vendor ----------------------------------------------------------------------------


def test_a_batch_comes_back_in_order_with_the_vendors_token_count(
    provider: Provider, vendor: EmbeddingVendor, emulator_control: EmulatorControl
) -> None:
    response = embed(provider, vendor.model, *TEXTS)
    assert list(response.vectors) == [embedding_vector(t, vendor.size) for t in TEXTS]
    assert response.usage.prompt_tokens == tokens(*TEXTS)
    assert response.usage.completion_tokens == 0
    records = emulator_control.requests()
    assert {r["protocol"] for r in records} == {vendor.wire}
    assert all(r["status"] == 200 for r in records)


def test_dimensions_travel_in_the_vendors_field(
    provider: Provider, vendor: EmbeddingVendor, emulator_control: EmulatorControl
) -> None:
    if not vendor.dimensions_at:
        pytest.skip(f"{vendor.kind} has no way to shorten vectors (refused at submission)")
    response = embed(provider, vendor.model, "short", dimensions=256)
    assert list(response.vectors) == [embedding_vector("short", 256)]
    [record] = emulator_control.requests()
    assert at(record["body"], vendor.dimensions_at) == 256


def test_429_is_rate_limited_with_the_vendors_retry_after(
    provider: Provider, vendor: EmbeddingVendor, kit: VendorKit, emulator_control: EmulatorControl
) -> None:
    with pytest.raises(ProviderRateLimited) as caught:
        embed(provider, vendor.model, "hi " + directive(status=429, retry_after=7))
    assert (caught.value.retry_after, caught.value.provider) == (7.0, kit.instance)
    assert len(emulator_control.requests()) == 1


def test_a_5xx_is_retryable_and_a_400_is_the_callers(
    provider: Provider, vendor: EmbeddingVendor
) -> None:
    with pytest.raises(ProviderUnavailable) as failed:
        embed(provider, vendor.model, "x " + directive(status=503))
    assert failed.value.retryable
    with pytest.raises(ProviderRejected) as rejected:
        embed(provider, vendor.model, "x " + directive(status=400, error="input too long"))
    assert "input too long" in rejected.value.message


@pytest.mark.parametrize(
    "kind", ["invalid_json", "not_object", "truncated", "wrong_content_type", "missing_fields"]
)
def test_a_malformed_reply_is_a_retryable_provider_error(
    provider: Provider, vendor: EmbeddingVendor, kit: VendorKit, kind: str
) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        embed(provider, vendor.model, "x " + directive(malformed=kind))
    assert caught.value.message.startswith(MALFORMED_REPLY)
    assert caught.value.provider == kit.instance


def test_an_unreachable_server_is_retryable(
    kit: VendorKit, vendor: EmbeddingVendor, closed_port_url: str
) -> None:
    provider = kit.build(base_url=closed_port_url)
    try:
        with pytest.raises(ProviderUnavailable):
            embed(provider, vendor.model, "x")
    finally:
        provider.close()


# --- each vendor's shape and limits ----------------------------------------------------------


def one_provider(kind: str, url: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Provider:
    kit = VENDORS[kind](url, workdir)
    if kit.isolate:
        kit.isolate(monkeypatch, workdir)
    return kit.build()


@pytest.fixture
def build(
    provider_emulator_url: str,
    emulator_control: EmulatorControl,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    built: list[Provider] = []

    def make(kind: str) -> Provider:
        built.append(one_provider(kind, provider_emulator_url, tmp_path, monkeypatch))
        return built[-1]

    yield make
    for provider in built:
        provider.close()


def test_openai_asks_for_floats_with_every_text_in_one_call(
    build: Any, emulator_control: EmulatorControl
) -> None:
    embed(build("openai"), "text-embedding-3-small", *TEXTS, user="u-1")
    [record] = emulator_control.requests()
    assert record["path"] == "/v1/embeddings"
    assert record["body"] == {
        "model": "text-embedding-3-small",
        "input": list(TEXTS),
        "encoding_format": "float",
        "user": "u-1",
    }


def test_azure_names_the_deployment_in_the_path(
    build: Any, emulator_control: EmulatorControl
) -> None:
    embed(build("azure_openai"), "embed-prod", "hi")
    [record] = emulator_control.requests()
    assert record["path"] == "/openai/deployments/embed-prod/embeddings"
    assert record["query"]["api-version"]


def test_titan_takes_one_text_per_call_normalized(
    build: Any, emulator_control: EmulatorControl
) -> None:
    response = embed(build("bedrock"), "amazon.titan-embed-text-v2:0", *TEXTS, dimensions=512)
    assert list(response.vectors) == [embedding_vector(t, 512) for t in TEXTS]
    bodies = [r["body"] for r in emulator_control.requests()]
    assert bodies == [{"inputText": t, "normalize": True, "dimensions": 512} for t in TEXTS]
    assert {r["path"] for r in emulator_control.requests()} == {
        "/model/amazon.titan-embed-text-v2:0/invoke"
    }
    assert response.usage.prompt_tokens == tokens(*TEXTS)


def test_cohere_on_bedrock_takes_96_texts_per_call_counted_by_header(
    build: Any, emulator_control: EmulatorControl
) -> None:
    texts = tuple(f"text number {i}" for i in range(100))
    response = embed(build("bedrock"), "cohere.embed-english-v3", *texts)
    assert list(response.vectors) == [embedding_vector(t, 1024) for t in texts]
    first, second = (r["body"] for r in emulator_control.requests())
    assert (first["texts"], second["texts"]) == (list(texts[:96]), list(texts[96:]))
    assert first["input_type"] == second["input_type"] == "search_document"
    # Cohere's body has no token count: the X-Amzn-Bedrock-Input-Token-Count header does.
    assert response.usage.prompt_tokens == tokens(*texts)


def test_cohere_v4_on_bedrock_carries_output_dimension(
    build: Any, emulator_control: EmulatorControl
) -> None:
    response = embed(build("bedrock"), "cohere.embed-v4:0", "a", "b", dimensions=256)
    assert [len(v) for v in response.vectors] == [256, 256]
    [record] = emulator_control.requests()
    assert record["body"]["output_dimension"] == 256
    assert record["body"]["embedding_types"] == ["float"]


def test_a_bedrock_model_of_no_embedding_family_is_refused_before_a_call(
    build: Any, emulator_control: EmulatorControl
) -> None:
    with pytest.raises(ProviderRejected):
        embed(build("bedrock"), "meta.llama3-3-70b-instruct-v1:0", "x")
    assert emulator_control.requests() == []


def test_vertex_predicts_without_silent_truncation(
    build: Any, emulator_control: EmulatorControl
) -> None:
    embed(build("vertex"), "text-embedding-004", *TEXTS)
    [record] = emulator_control.requests()
    assert record["path"].endswith("/publishers/google/models/text-embedding-004:predict")
    assert record["body"] == {
        "instances": [{"content": t} for t in TEXTS],
        "parameters": {"autoTruncate": False},
    }
    assert record["auth"]  # the service account's token


def test_gemini_embedding_on_vertex_takes_one_text_per_call(
    build: Any, emulator_control: EmulatorControl
) -> None:
    response = embed(build("vertex"), "gemini-embedding-001", *TEXTS, dimensions=128)
    assert list(response.vectors) == [embedding_vector(t, 128) for t in TEXTS]
    assert [len(r["body"]["instances"]) for r in emulator_control.requests()] == [1, 1, 1]


def test_ollama_embeds_every_text_at_once_without_truncation(
    build: Any, emulator_control: EmulatorControl
) -> None:
    embed(build("ollama"), "nomic-embed-text", *TEXTS)
    [record] = emulator_control.requests()
    assert record["body"] == {"model": "nomic-embed-text", "input": list(TEXTS), "truncate": False}


def test_watsonx_sends_the_project_and_api_version(
    build: Any, emulator_control: EmulatorControl
) -> None:
    embed(build("watsonx"), "ibm/slate-125m-english-rtrvr", *TEXTS)
    [record] = emulator_control.requests()
    assert record["body"] == {
        "inputs": list(TEXTS),
        "model_id": "ibm/slate-125m-english-rtrvr",
        "project_id": "4947c695-a374-428c-acca-332c1a1dc9e9",
    }
    assert record["query"] == {"version": "2024-05-31"}


def test_oci_sends_the_compartment_and_serving_mode_96_texts_per_call(
    build: Any, emulator_control: EmulatorControl
) -> None:
    texts = tuple(f"t{i}" for i in range(97))
    embed(build("oci"), "cohere.embed-english-v3.0", *texts)
    first, second = (r["body"] for r in emulator_control.requests())
    assert (len(first["inputs"]), len(second["inputs"])) == (96, 1)
    assert first["servingMode"] == {
        "servingType": "ON_DEMAND",
        "modelId": "cohere.embed-english-v3.0",
    }
    assert first["compartmentId"] == "ocid1.compartment.oc1..aaaaaaaacompartment"
    assert (first["inputType"], first["truncate"]) == ("SEARCH_DOCUMENT", "NONE")


def test_anthropic_has_no_embeddings(build: Any, emulator_control: EmulatorControl) -> None:
    with pytest.raises(CapabilityMissing):
        embed(build("anthropic"), "claude-haiku-4-5", "x")
    assert emulator_control.requests() == []


def test_a_failure_in_a_later_call_fails_the_whole_request(
    build: Any, emulator_control: EmulatorControl
) -> None:
    failing = "second " + directive(status=500)
    with pytest.raises(ProviderError):
        embed(build("bedrock"), "amazon.titan-embed-text-v2:0", "first", failing, "third")
    assert [r["status"] for r in emulator_control.requests()] == [200, 500]
