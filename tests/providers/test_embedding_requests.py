"""Embedding requests before anything is queued: the one reader of the OpenAI-shaped
request (every problem a 400 naming its field), the gateway's answer (base64 is OpenAI's
float32 little-endian), model kinds in the providers file and the router, and each
provider type's refusals (``dimensions`` where its API cannot carry it)."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from gateway.errors import CapabilityMissing, InvalidRequest, UnknownModel
from providers.config import ProvidersConfig
from providers.embeddings import EmbeddingRequest
from providers.openai_embeddings import embedding_call_from_openai, embedding_list
from providers.registry import check_embedding
from providers.router import ModelRouter

# --- the reader ------------------------------------------------------------------------------


def read(**fields: Any) -> Any:
    return embedding_call_from_openai({"model": "m", **fields}, max_inputs=3)


def test_a_string_and_a_list_are_read_as_texts() -> None:
    assert read(input="one").request.inputs == ("one",)
    call = read(input=["a", "b"], dimensions=8, encoding_format="base64", user="u", provider="p")
    assert (call.request.inputs, call.request.dimensions, call.request.user) == (("a", "b"), 8, "u")
    assert (call.encoding_format, call.provider) == ("base64", "p")
    assert read(input="x").encoding_format == "float"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({}, "input"),
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": ["a", "b", "c", "d"]}, "input"),  # over max_inputs
        ({"input": ["a", 3]}, "input[1]"),
        ({"input": ["a", ""]}, "input[1]"),
        ({"input": ["a", None]}, "input[1]"),
        ({"input": {"text": "a"}}, "input"),
        ({"input": [1, 2, 3]}, "input"),  # token array
        ({"input": [[1, 2], [3]]}, "input"),  # token arrays
        ({"input": "a", "dimensions": 0}, "dimensions"),
        ({"input": "a", "dimensions": -3}, "dimensions"),
        ({"input": "a", "dimensions": 1.5}, "dimensions"),
        ({"input": "a", "dimensions": True}, "dimensions"),
        ({"input": "a", "dimensions": 100_000}, "dimensions"),
        ({"input": "a", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "a", "user": 7}, "user"),
        ({"input": "a", "provider": ""}, "provider"),
        ({"input": "a", "model": ""}, "model"),
        ({"input": "a", "model": None}, "model"),
        ({"input": "a", "temperature": 1}, "temperature"),
    ],
)
def test_each_problem_is_a_400_naming_its_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        read(**fields)
    assert caught.value.status_code == 400
    assert caught.value.param == param


def test_token_arrays_are_refused_with_the_reason() -> None:
    with pytest.raises(InvalidRequest, match="token arrays are not supported"):
        read(input=[[1, 2]])


def test_too_many_texts_are_refused_naming_the_limit_and_its_setting() -> None:
    with pytest.raises(InvalidRequest) as caught:
        read(input=["a", "b", "c", "d"])
    assert caught.value.message == (
        "input: 4 texts; at most 3 are allowed (LLM_GATEWAY_EMBEDDING_MAX_INPUTS)"
    )


def test_a_worker_rereading_a_stored_request_applies_no_input_limit() -> None:
    call = embedding_call_from_openai({"model": "m", "input": ["x"] * 5000})
    assert len(call.request.inputs) == 5000


def test_base64_is_each_vectors_float32_little_endian_bytes() -> None:
    vectors = [[0.5, -1.25, 3.0], [1e-3, 2.0, 0.0]]
    answer = embedding_list(vectors, "m", 9, "base64")
    decoded = [
        list(struct.unpack("<3f", base64.b64decode(item["embedding"]))) for item in answer["data"]
    ]
    assert decoded == [list(struct.unpack("<3f", struct.pack("<3f", *v))) for v in vectors]
    assert embedding_list(vectors, "m", 9, "float") == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": vectors[0]},
            {"object": "embedding", "index": 1, "embedding": vectors[1]},
        ],
        "model": "m",
        "usage": {"prompt_tokens": 9, "total_tokens": 9},
    }


# --- model kinds -----------------------------------------------------------------------------

CONFIG: dict[str, Any] = {
    "instances": {
        "openai": {
            "type": "openai",
            "models": ["gpt-4o-mini"],
            "model_patterns": ["gpt-*", "text-*"],
            "embedding_models": ["text-embedding-3-small"],
        },
        "azure": {
            "type": "azure_openai",
            "deployments": {"embed-prod": "text-embedding-3-small"},
            "embedding_models": ["text-embedding-3-small"],
            "priority": 1,
        },
        "bedrock": {
            "type": "bedrock",
            "models": ["meta.llama3-3-70b-instruct-v1:0"],
            "embedding_models": ["amazon.titan-embed-text-v2:0", "cohere.embed-english-v3"],
        },
        "watsonx": {"type": "watsonx", "embedding_models": ["ibm/slate-125m-english-rtrvr"]},
        "oci": {
            "type": "oci",
            "embedding_models": ["cohere.embed-english-v3.0", "cohere.embed-v4.0"],
        },
        "anthropic": {"type": "anthropic", "models": ["claude-haiku-4-5"]},
    }
}


@pytest.fixture
def config() -> ProvidersConfig:
    return ProvidersConfig.model_validate(CONFIG)


@pytest.fixture
def router(config: ProvidersConfig) -> ModelRouter:
    return ModelRouter(config)


def test_an_embedding_model_routes_only_as_an_embedding(router: ModelRouter) -> None:
    route = router.route("text-embedding-3-small", kind="embedding")
    assert route.instance.name == "openai"
    with pytest.raises(CapabilityMissing, match="is an embedding model") as caught:
        router.route("text-embedding-3-small")
    assert caught.value.param == "model"
    # An exact embedding listing wins over the chat pattern "text-*".
    assert router.kind_of("text-embedding-3-small") == "embedding"
    assert router.kind_of("text-davinci") == "chat"


def test_a_chat_model_is_refused_for_embeddings_and_an_unknown_one_is_unknown(
    router: ModelRouter,
) -> None:
    with pytest.raises(CapabilityMissing, match="is a chat model") as caught:
        router.route("gpt-4o-mini", kind="embedding")
    assert caught.value.status_code == 400
    with pytest.raises(CapabilityMissing):
        router.route("gpt-5", kind="embedding")  # routable by pattern, as chat
    with pytest.raises(UnknownModel) as unknown:
        router.route("no-such-model", kind="embedding")
    assert unknown.value.known == [
        "amazon.titan-embed-text-v2:0",
        "cohere.embed-english-v3",
        "cohere.embed-english-v3.0",
        "cohere.embed-v4.0",
        "ibm/slate-125m-english-rtrvr",
        "text-embedding-3-small",
    ]


def test_an_azure_deployment_maps_the_embedding_model(router: ModelRouter) -> None:
    route = router.route("text-embedding-3-small", hint="azure", kind="embedding")
    assert route.upstream_model == "embed-prod"


@pytest.mark.parametrize(
    ("instances", "problem"),
    [
        (
            {
                "a": {"type": "openai", "embedding_models": ["e"]},
                "b": {"type": "openai", "models": ["e"]},
            },
            "list it under embedding_models, not models",
        ),
        (
            {
                "a": {"type": "openai", "embedding_models": ["e"]},
                "b": {"type": "azure_openai", "deployments": {"e-prod": "e"}},
            },
            "list it under its embedding_models too",
        ),
        (
            {"a": {"type": "anthropic", "embedding_models": ["e"]}},
            "Anthropic has no embeddings API",
        ),
    ],
)
def test_a_model_is_one_kind_everywhere(instances: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ProvidersConfig.model_validate({"instances": instances})


# --- what each type can carry ----------------------------------------------------------------


def request(model: str, dimensions: int | None = None) -> EmbeddingRequest:
    return EmbeddingRequest(model=model, inputs=("x",), dimensions=dimensions)


@pytest.mark.parametrize(
    ("instance", "model"),
    [
        ("watsonx", "ibm/slate-125m-english-rtrvr"),
        ("bedrock", "cohere.embed-english-v3"),
        ("oci", "cohere.embed-english-v3.0"),
    ],
)
def test_dimensions_are_refused_where_the_api_cannot_carry_them(
    config: ProvidersConfig, instance: str, model: str
) -> None:
    inst = config.instances[instance]
    check_embedding(inst, model, request(model))
    with pytest.raises(CapabilityMissing) as caught:
        check_embedding(inst, model, request(model, dimensions=256))
    assert caught.value.param == "dimensions"
    assert instance in caught.value.message


@pytest.mark.parametrize(
    ("instance", "model"),
    [
        ("openai", "text-embedding-3-small"),
        ("azure", "text-embedding-3-small"),
        ("bedrock", "amazon.titan-embed-text-v2:0"),
        ("oci", "cohere.embed-v4.0"),
    ],
)
def test_dimensions_are_carried_where_the_api_has_them(
    config: ProvidersConfig, instance: str, model: str
) -> None:
    check_embedding(config.instances[instance], model, request(model, dimensions=256))


def test_an_instance_serves_only_its_own_embedding_models(config: ProvidersConfig) -> None:
    with pytest.raises(CapabilityMissing, match="does not serve the embedding model"):
        check_embedding(config.instances["watsonx"], "text-embedding-3-small", request("x"))
    with pytest.raises(CapabilityMissing, match="has no embeddings API"):
        check_embedding(config.instances["anthropic"], "claude-haiku-4-5", request("x"))


def test_a_bedrock_model_outside_the_known_families_is_refused(config: ProvidersConfig) -> None:
    bedrock = config.instances["bedrock"].model_copy(
        update={"embedding_models": ["amazon.nova-embed"]}
    )
    with pytest.raises(CapabilityMissing, match="not a Bedrock embedding model"):
        check_embedding(bedrock, "amazon.nova-embed", request("amazon.nova-embed"))
