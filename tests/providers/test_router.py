"""Model routing: exact → pattern → default; unknown lists the known models."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import UnknownModel
from providers.config import ProvidersConfig, ProvidersFileError, load_providers
from providers.router import ModelRouter

CONFIG = {
    "default_model": "gpt-4o-mini",
    "instances": {
        "openai": {
            "type": "openai",
            "models": ["gpt-4o-mini", "gpt-4o"],
            "model_patterns": ["gpt-*"],
        },
        "anthropic": {
            "type": "anthropic",
            "models": ["claude-sonnet-4-5"],
            "model_patterns": ["claude-*"],
            "model_map": {"claude-latest": "claude-sonnet-4-5"},
        },
        "backup": {"type": "openai", "models": ["gpt-4o"], "fallbacks": ["openai"], "priority": 1},
    },
}


@pytest.fixture
def router() -> ModelRouter:
    return ModelRouter(ProvidersConfig.model_validate(CONFIG))


@pytest.mark.parametrize(
    ("model", "instance", "upstream"),
    [
        ("gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("gpt-4o", "openai", "gpt-4o"),  # first instance listing it wins
        ("gpt-5-preview", "openai", "gpt-5-preview"),  # pattern
        ("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        ("claude-3-opus", "anthropic", "claude-3-opus"),  # pattern
        ("claude-latest", "anthropic", "claude-sonnet-4-5"),  # mapped name
    ],
)
def test_route_resolves_exact_then_pattern(
    router: ModelRouter, model: str, instance: str, upstream: str
) -> None:
    route = router.route(model)
    assert (route.instance.name, route.upstream_model, route.queue) == (
        instance,
        upstream,
        f"llm.{instance}",
    )


def test_unmatched_model_uses_default(router: ModelRouter) -> None:
    assert router.route("mistral-large").instance.name == "openai"


def test_unknown_model_without_default_lists_known() -> None:
    config = {**CONFIG, "default_model": None}
    with pytest.raises(UnknownModel) as info:
        ModelRouter(ProvidersConfig.model_validate(config)).route("mistral-large")
    assert info.value.status_code == 400
    assert "claude-sonnet-4-5" in info.value.message and "gpt-4o-mini" in info.value.message


def test_models_lists_every_instance_serving_a_model(router: ModelRouter) -> None:
    assert dict(router.models())["gpt-4o"] == ["openai", "backup"]


def test_unknown_fallback_is_rejected() -> None:
    bad = {"instances": {"a": {"type": "openai", "fallbacks": ["ghost"]}}}
    with pytest.raises(ValueError, match="neither an instance nor a model"):
        ProvidersConfig.model_validate(bad)


def test_fallback_may_name_an_instance_or_a_model_it_serves() -> None:
    config = ProvidersConfig.model_validate(
        {
            "instances": {
                "a": {"type": "openai", "models": ["m1"], "fallbacks": ["b", "claude-x"]},
                "b": {"type": "openai", "models": ["m1"]},
                "c": {"type": "anthropic", "model_patterns": ["claude-*"]},
            }
        }
    )
    assert config.instances["a"].fallbacks == ["b", "claude-x"]


def test_instance_cannot_fall_back_to_itself() -> None:
    bad = {"instances": {"a": {"type": "openai", "fallbacks": ["a"]}}}
    with pytest.raises(ValueError, match="itself"):
        ProvidersConfig.model_validate(bad)


def test_unset_env_without_default_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("instances:\n  a: {type: openai, base_url: ${NOPE}}\n")
    with pytest.raises(ProvidersFileError, match="NOPE"):
        load_providers(path, {})


def test_invalid_provider_type_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("instances:\n  a: {type: skynet}\n")
    with pytest.raises(ProvidersFileError, match="invalid"):
        load_providers(path, {})


def test_default_config_routes_the_demo_models_to_their_first_choice() -> None:
    config = load_providers(Path("config/providers.yaml"), {})
    router = ModelRouter(config)
    assert router.route("gpt-4o-mini").instance.name == "openai"
    assert router.route("claude-sonnet-4-5").instance.name == "anthropic"
    assert config.instances["openai"].base_url == "https://api.openai.com/v1"


def test_claude_on_vertex_is_the_last_fallback_in_the_default_config() -> None:
    config = load_providers(Path("config/providers.yaml"), {})
    vertex = config.instances["vertex"]
    assert vertex.upstream_model("claude-sonnet-4-5") == "claude-sonnet-4-5@20250929"
    serving = [i for i in config.instances.values() if "claude-sonnet-4-5" in i.model_map]
    assert max(serving, key=lambda i: i.priority) is vertex
    assert [i.priority for i in serving].count(vertex.priority) == 1
    assert ModelRouter(config).route("gemini-2.5-flash").instance is vertex


def test_the_emulator_base_url_switches_without_code_change() -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:8090/v1"}
    config = load_providers(Path("config/providers.yaml"), env)
    assert config.instances["openai"].base_url == "http://127.0.0.1:8090/v1"
