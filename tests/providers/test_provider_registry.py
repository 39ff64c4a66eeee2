"""The adapter registry: types to factories, API keys from the environment."""

from __future__ import annotations

import logging

import pytest

from providers.anthropic_messages import AnthropicMessagesProvider
from providers.config import InstanceConfig
from providers.openai_chat import OpenAIChatProvider
from providers.registry import PROVIDER_FACTORIES, build_provider

SECRET = "sk-test-registry-SECRET-99887766"


@pytest.mark.parametrize(
    ("kind", "cls"),
    [("openai", OpenAIChatProvider), ("anthropic", AnthropicMessagesProvider)],
)
def test_build_provider_picks_the_adapter_for_the_type(kind: str, cls: type) -> None:
    config = InstanceConfig(
        name="main", type=kind, base_url="http://127.0.0.1:9/v1", api_key_env="K"
    )
    adapter = build_provider(config, {"K": SECRET})
    assert isinstance(adapter, cls)
    assert adapter.instance == "main"
    assert adapter.capabilities.tools and adapter.capabilities.vision
    adapter.close()


@pytest.mark.parametrize("kind", ["azure_openai", "bedrock", "vertex", "ollama", "watsonx", "oci"])
def test_types_without_an_adapter_are_refused(kind: str) -> None:
    config = InstanceConfig(name="x", type=kind)
    with pytest.raises(ValueError, match=f"provider type {kind} is not implemented"):
        build_provider(config, {})


def test_factory_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        PROVIDER_FACTORIES["ollama"] = OpenAIChatProvider  # type: ignore[index]


def test_missing_key_is_logged_by_variable_name(caplog: pytest.LogCaptureFixture) -> None:
    config = InstanceConfig(
        name="oai", type="openai", base_url="http://127.0.0.1:9/v1", api_key_env="OPENAI_KEY_X"
    )
    with caplog.at_level(logging.WARNING, logger="providers.registry"):
        build_provider(config, {}).close()
    assert "OPENAI_KEY_X" in caplog.text
    assert "oai" in caplog.text


def test_present_key_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    config = InstanceConfig(
        name="oai", type="openai", base_url="http://127.0.0.1:9/v1", api_key_env="K"
    )
    with caplog.at_level(logging.DEBUG):
        build_provider(config, {"K": SECRET}).close()
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("anthropic", {"default_max_tokens": "lots"}, "default_max_tokens"),
        ("anthropic", {"default_max_tokens": "0"}, "default_max_tokens"),
        ("openai", {"max_tokens_field": "max_output_tokens"}, "max_tokens_field"),
    ],
    ids=["max-tokens-not-a-number", "max-tokens-zero", "unknown-max-tokens-field"],
)
def test_bad_adapter_options_fail_at_start_up(
    kind: str, options: dict[str, str], message: str
) -> None:
    config = InstanceConfig(name="x", type=kind, base_url="http://127.0.0.1:9", options=options)
    with pytest.raises(ValueError, match=message):
        build_provider(config, {})
