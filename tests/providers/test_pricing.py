"""Model prices: the config's overrides first, then the genai-prices catalogue, then none."""

from __future__ import annotations

import pytest

from gateway.settings import DEFAULT_PROVIDERS_FILE
from providers.config import InstanceConfig, ModelPrice, load_providers
from providers.pricing import CataloguePrice, price_for


def _instance(kind: str, **extra: object) -> InstanceConfig:
    return InstanceConfig.model_validate({"name": "i", "type": kind, **extra})


def test_an_override_wins_over_the_catalogue() -> None:
    override = {"gpt-4o-mini": {"input_per_mtok": 100.0, "output_per_mtok": 200.0}}
    price = price_for(_instance("openai", prices=override), "gpt-4o-mini")
    assert isinstance(price, ModelPrice)
    assert price.cost(1_000_000, 1_000_000) == pytest.approx(300.0)


def test_the_catalogue_prices_a_known_model() -> None:
    price = price_for(_instance("openai"), "gpt-4o-mini")
    assert isinstance(price, CataloguePrice)
    # gpt-4o-mini: 0.15 USD in and 0.60 USD out per million tokens.
    assert price.cost(1_000_000, 1_000_000) == pytest.approx(0.75)


def test_a_mapped_model_is_priced_by_its_upstream_name() -> None:
    inst = _instance("bedrock", model_map={"nova": "amazon.nova-pro-v1:0"})
    price = price_for(inst, "nova")
    assert price is not None and price.cost(1_000_000, 0) > 0


def test_ollama_models_are_free() -> None:
    price = price_for(_instance("ollama"), "llama3.2")
    assert price is not None and price.cost(10_000, 10_000) == 0.0


def test_an_unknown_model_has_no_price() -> None:
    assert price_for(_instance("openai"), "no-such-model-xyz") is None


def test_a_vendor_prefixed_model_is_found_by_its_bare_name() -> None:
    price = price_for(_instance("oci"), "xai.grok-3")
    assert isinstance(price, CataloguePrice) and price.name == "x-ai/grok-3"


def test_a_bedrock_model_of_another_vendor_is_priced_as_that_vendor_s() -> None:
    price = price_for(_instance("bedrock"), "cohere.command-r-plus-v1:0")
    assert isinstance(price, CataloguePrice) and price.name == "cohere/command-r-plus"


def test_a_tiered_price_is_applied_per_call() -> None:
    """Gemini 2.5 Pro costs more per token above 200k input tokens."""
    price = price_for(_instance("vertex"), "gemini-2.5-pro")
    assert price is not None
    assert price.cost(300_000, 0) / 300_000 > price.cost(100_000, 0) / 100_000


def _served(inst: InstanceConfig) -> list[str]:
    """Every model name an instance is configured to serve: chat models, mapped models
    (``model_map``, Azure ``deployments``) and embedding models."""
    return list(dict.fromkeys([*inst.models, *inst.model_map, *inst.embedding_models]))


def test_every_model_the_shipped_config_serves_has_a_price() -> None:
    """A model added to config/providers.yaml without a catalogue price or a ``prices``
    entry fails here, not as ``cost_usd: null`` on every job in production."""
    config = load_providers(DEFAULT_PROVIDERS_FILE)
    unpriced = [
        f"{inst.name}:{model}"
        for inst in config.instances.values()
        for model in _served(inst)
        if price_for(inst, model) is None
    ]
    assert unpriced == []


# Not in the catalogue (no watsonx or OCI provider there, older embedding models): the
# shipped config prices them with ``prices`` entries (their sources in its comments). A new
# catalogue release that prices one makes this test fail: the override may then go.
OVERRIDDEN_FOR_THE_CATALOGUE_GAP = [
    "bedrock-us:cohere.embed-english-v3",
    "oci:cohere.embed-english-v3.0",
    "oci:meta.llama-3.3-70b-instruct",
    "vertex:text-embedding-004",
    "watsonx:ibm/granite-3-8b-instruct",
    "watsonx:ibm/slate-125m-english-rtrvr",
    "watsonx:meta-llama/llama-3-3-70b-instruct",
]


def test_the_catalogue_gaps_of_the_shipped_config_are_exactly_the_overridden_models() -> None:
    config = load_providers(DEFAULT_PROVIDERS_FILE)
    gaps = sorted(
        f"{inst.name}:{model}"
        for inst in config.instances.values()
        for model in _served(inst)
        if price_for(inst.model_copy(update={"prices": {}}), model) is None
    )
    assert gaps == OVERRIDDEN_FOR_THE_CATALOGUE_GAP
    for entry in gaps:
        name, model = entry.split(":", 1)
        assert isinstance(price_for(config.instances[name], model), ModelPrice), entry
