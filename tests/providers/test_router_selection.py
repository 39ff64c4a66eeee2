"""Choosing among several instances serving one model: priority, weight, headroom, hints,
disabled instances and discovered models."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gateway.errors import CapabilityMissing, InvalidRequest, ServiceUnavailable, UnknownModel
from providers.config import InstanceConfig, ProvidersConfig
from providers.openai_format import chat_request_from_openai
from providers.registry import check_request
from providers.router import InstanceState, ModelRouter

# Claude on Anthropic first, then Bedrock in two regions sharing 3:1.
FLEET = {
    "instances": {
        "anthropic": {
            "type": "anthropic",
            "models": ["claude-sonnet-4-5"],
            "model_patterns": ["claude-*"],
        },
        "bedrock-us": {
            "type": "bedrock",
            "model_map": {"claude-sonnet-4-5": "us.anthropic.claude-sonnet-4-5-v1:0"},
            "model_patterns": ["claude-*"],
            "priority": 1,
            "weight": 3,
        },
        "bedrock-eu": {
            "type": "bedrock",
            "model_map": {"claude-sonnet-4-5": "eu.anthropic.claude-sonnet-4-5-v1:0"},
            "priority": 1,
            "weight": 1,
        },
        "ollama": {"type": "ollama", "models": ["llama3.2"], "discover_models": True},
    }
}
NO_HEADROOM = InstanceState(headroom=False)
DISABLED = InstanceState(disabled=True)
UNSERVED = InstanceState(served=False)


@pytest.fixture
def router() -> ModelRouter:
    return ModelRouter(ProvidersConfig.model_validate(FLEET), rng=random.Random(7))


def share(router: ModelRouter, states: dict[str, InstanceState], n: int = 4000) -> Counter[str]:
    return Counter(router.route("claude-sonnet-4-5", states=states).instance.name for _ in range(n))


def test_lowest_priority_wins_while_it_has_headroom(router: ModelRouter) -> None:
    assert share(router, {}) == Counter({"anthropic": 4000})


def test_equal_priorities_share_by_weight(router: ModelRouter) -> None:
    counts = share(router, {"anthropic": NO_HEADROOM})
    assert set(counts) == {"bedrock-us", "bedrock-eu"}
    assert 2.6 < counts["bedrock-us"] / counts["bedrock-eu"] < 3.4


def test_an_instance_without_headroom_yields_to_one_with_headroom(router: ModelRouter) -> None:
    states = {"anthropic": NO_HEADROOM, "bedrock-us": NO_HEADROOM}
    assert share(router, states, 200) == Counter({"bedrock-eu": 200})


def test_without_headroom_anywhere_the_first_choice_keeps_the_job(router: ModelRouter) -> None:
    states = {name: NO_HEADROOM for name in ("anthropic", "bedrock-us", "bedrock-eu")}
    assert share(router, states, 50) == Counter({"anthropic": 50})


def test_disabled_instances_are_skipped(router: ModelRouter) -> None:
    states = {"anthropic": DISABLED, "bedrock-eu": DISABLED}
    assert share(router, states, 50) == Counter({"bedrock-us": 50})


def test_every_candidate_disabled_is_503(router: ModelRouter) -> None:
    states = {name: DISABLED for name in ("anthropic", "bedrock-us", "bedrock-eu")}
    with pytest.raises(ServiceUnavailable, match="disabled"):
        router.route("claude-sonnet-4-5", states=states)


def test_the_route_carries_the_chosen_instances_upstream_name(router: ModelRouter) -> None:
    route = router.route("claude-sonnet-4-5", hint="bedrock-eu")
    assert (route.instance.name, route.upstream_model) == (
        "bedrock-eu",
        "eu.anthropic.claude-sonnet-4-5-v1:0",
    )
    assert route.queue == "llm.bedrock-eu"


def test_a_provider_type_hint_keeps_the_choice_within_that_type(router: ModelRouter) -> None:
    names = {router.route("claude-sonnet-4-5", hint="bedrock").instance.name for _ in range(200)}
    assert names == {"bedrock-us", "bedrock-eu"}


def test_a_pattern_can_match_several_instances(router: ModelRouter) -> None:
    assert [i.name for i in router.candidates("claude-opus-4-1")] == ["anthropic", "bedrock-us"]
    assert router.route("claude-opus-4-1", hint="bedrock-us").instance.name == "bedrock-us"


def test_a_hint_for_an_instance_not_serving_the_model_is_400(router: ModelRouter) -> None:
    with pytest.raises(InvalidRequest, match="does not serve model") as caught:
        router.route("llama3.2", hint="bedrock-us")
    assert caught.value.param == "provider"
    assert "served by ollama" in caught.value.message


def test_an_unknown_hint_is_400_listing_instances_and_types(router: ModelRouter) -> None:
    with pytest.raises(InvalidRequest, match="neither an instance nor a provider type") as caught:
        router.route("claude-sonnet-4-5", hint="bedrock-ap")
    assert "bedrock-eu" in caught.value.message and "anthropic" in caught.value.message


def test_a_hinted_instance_that_is_disabled_is_503(router: ModelRouter) -> None:
    with pytest.raises(ServiceUnavailable, match="is disabled"):
        router.route("claude-sonnet-4-5", hint="bedrock-eu", states={"bedrock-eu": DISABLED})


def test_discovered_models_become_routable_and_listed(router: ModelRouter) -> None:
    with pytest.raises(UnknownModel, match=r"qwen2\.5:7b"):
        router.route("qwen2.5:7b")
    assert router.set_discovered("ollama", ["llama3.2", "qwen2.5:7b"]) is True
    assert router.set_discovered("ollama", ["qwen2.5:7b", "llama3.2"]) is False
    assert router.route("qwen2.5:7b").instance.name == "ollama"
    assert ("qwen2.5:7b", ["ollama"]) in router.models()
    assert router.discovered("qwen2.5:7b") == ["ollama"]
    # A model removed from the server stops routing; configured ones stay.
    router.set_discovered("ollama", [])
    with pytest.raises(UnknownModel, match=r"qwen2\.5:7b"):
        router.route("qwen2.5:7b")
    assert router.route("llama3.2").instance.name == "ollama"


def test_models_lists_every_instance_in_preference_order(router: ModelRouter) -> None:
    listed = dict(router.models())
    assert listed["claude-sonnet-4-5"] == ["anthropic", "bedrock-us", "bedrock-eu"]


def test_an_instance_that_cannot_take_the_request_is_passed_over(router: ModelRouter) -> None:
    def only_bedrock_eu(inst: InstanceConfig) -> None:
        if inst.name != "bedrock-eu":
            raise CapabilityMissing(f"{inst.name} cannot")

    names = {
        router.route("claude-sonnet-4-5", accepts=only_bedrock_eu).instance.name for _ in range(50)
    }
    assert names == {"bedrock-eu"}


def test_when_no_instance_can_take_the_request_the_first_ones_reason_is_given(
    router: ModelRouter,
) -> None:
    def refuse(inst: InstanceConfig) -> None:
        raise CapabilityMissing(f"{inst.name} cannot")

    with pytest.raises(CapabilityMissing, match="anthropic cannot"):
        router.route("claude-sonnet-4-5", states={"anthropic": NO_HEADROOM}, accepts=refuse)


def test_a_weight_zero_instance_only_takes_what_nothing_else_can() -> None:
    config = ProvidersConfig.model_validate(
        {
            "instances": {
                "standby": {"type": "openai", "models": ["m"], "weight": 0},
                "main": {"type": "openai", "models": ["m"], "priority": 5},
            }
        }
    )
    router = ModelRouter(config)
    assert router.route("m").instance.name == "main"
    assert router.route("m", states={"main": DISABLED}).instance.name == "standby"


def test_an_instance_no_worker_serves_comes_after_any_served_one(router: ModelRouter) -> None:
    # Anthropic has headroom but no worker; Bedrock, at its limits, has workers.
    states = {
        "anthropic": UNSERVED,
        "bedrock-us": NO_HEADROOM,
        "bedrock-eu": InstanceState(headroom=False, served=True),
    }
    assert set(share(router, states)) == {"bedrock-us", "bedrock-eu"}


def test_with_no_instance_served_routing_keeps_its_preference(router: ModelRouter) -> None:
    # A job queued where nobody consumes waits for a worker: the usual choice then.
    states = {name: UNSERVED for name in ("anthropic", "bedrock-us", "bedrock-eu")}
    assert share(router, states) == Counter({"anthropic": 4000})


# A parameter one type refuses and another honours: the parameter table decides the route.
DUAL = {
    "instances": {
        "anthropic": {"type": "anthropic", "models": ["dual-model"]},
        "openai": {"type": "openai", "models": ["dual-model"], "priority": 1},
    }
}


def test_an_instance_that_cannot_honour_a_parameter_yields_to_one_that_can() -> None:
    router = ModelRouter(ProvidersConfig.model_validate(DUAL), rng=random.Random(7))

    def routed(**params: object) -> str:
        chat = chat_request_from_openai(
            {"model": "dual-model", "messages": [{"role": "user", "content": "x"}], **params}
        )
        accepts = lambda inst: check_request(inst, chat)  # noqa: E731
        return router.route("dual-model", accepts=accepts).instance.name

    assert routed() == "anthropic"
    assert routed(logit_bias={"50256": -100}) == "openai"
    # Pinned to the instance that cannot: the refusal names the parameter.
    chat = chat_request_from_openai(
        {
            "model": "dual-model",
            "messages": [{"role": "user", "content": "x"}],
            "logit_bias": {"1": 1},
        }
    )
    with pytest.raises(CapabilityMissing) as caught:
        router.route("dual-model", hint="anthropic", accepts=lambda inst: check_request(inst, chat))
    assert caught.value.param == "logit_bias"
