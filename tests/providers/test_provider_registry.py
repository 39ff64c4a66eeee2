"""The provider-type table: adapters, capabilities, credentials and request checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.credentials import CredentialResolver, CredentialsMissing
from gateway.errors import CapabilityMissing, InvalidRequest
from providers.anthropic_messages import AnthropicMessagesProvider
from providers.config import CapabilityOverrides, InstanceConfig
from providers.openai_chat import OpenAIChatProvider
from providers.registry import (
    PROVIDER_KINDS,
    SdkMissing,
    _load_sdk,
    build_provider,
    capabilities_of,
    check_request,
    provider_kind,
    resolve_credentials,
)
from providers.types import ChatRequest, ImagePart, Message, TextPart, ToolCall, ToolDefinition

SECRET = "sk-test-registry-SECRET-99887766"
ALL_TYPES = ["openai", "anthropic", "azure_openai", "bedrock", "vertex", "ollama", "watsonx", "oci"]


def _request(**fields: object) -> ChatRequest:
    message = Message("user", (TextPart("hi"),))
    return ChatRequest(model="m", messages=(message,), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "cls"),
    [("openai", OpenAIChatProvider), ("anthropic", AnthropicMessagesProvider)],
)
def test_build_provider_picks_the_adapter_for_the_type(kind: str, cls: type) -> None:
    config = InstanceConfig(
        name="main", type=kind, base_url="http://127.0.0.1:9/v1", api_key_env="K"
    )
    credentials = resolve_credentials(config, CredentialResolver({"K": SECRET}))
    adapter = build_provider(config, credentials)
    assert isinstance(adapter, cls)
    assert adapter.instance == "main"
    adapter.close()


def test_every_configurable_type_has_a_kind() -> None:
    assert sorted(PROVIDER_KINDS) == sorted(ALL_TYPES)


def test_kind_table_is_read_only() -> None:
    with pytest.raises(TypeError, match="does not support item assignment"):
        PROVIDER_KINDS["ollama"] = PROVIDER_KINDS["openai"]  # type: ignore[index]


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="provider type nope is not implemented"):
        provider_kind("nope")


def test_missing_credentials_name_the_sources_never_a_value() -> None:
    config = InstanceConfig(name="oai", type="openai", api_key_env="OPENAI_KEY_X")
    with pytest.raises(CredentialsMissing) as caught:
        resolve_credentials(config, CredentialResolver({"OTHER": SECRET}))
    assert "OPENAI_KEY_X" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_credentials_repr_hides_the_values() -> None:
    config = InstanceConfig(name="oai", type="openai", api_key_env="K")
    credentials = resolve_credentials(config, CredentialResolver({"K": SECRET}))
    assert SECRET not in repr(credentials)
    assert credentials.get("api_key") == SECRET


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
        build_provider(config, resolve_credentials(config, CredentialResolver({})))


def test_instance_overrides_change_the_types_capabilities() -> None:
    config = InstanceConfig(
        name="local",
        type="ollama",
        capabilities=CapabilityOverrides(tools=False, max_output_tokens=2048),
    )
    caps = capabilities_of(config)
    assert (caps.tools, caps.vision, caps.max_output_tokens) == (False, True, 2048)


def test_a_request_with_tools_is_refused_where_tools_are_off() -> None:
    config = InstanceConfig(name="local", type="openai", capabilities={"tools": False})
    tools = (ToolDefinition("f", "", {"type": "object"}),)
    with pytest.raises(CapabilityMissing, match=r"'local' .*tool calling"):
        check_request(config, _request(tools=tools))


def test_an_image_is_refused_where_vision_is_off() -> None:
    config = InstanceConfig(name="text-only", type="openai", capabilities={"vision": False})
    image = Message("user", (ImagePart("https://example.com/a.png"),))
    request = ChatRequest(model="m", messages=(image,))
    with pytest.raises(CapabilityMissing, match="does not accept images"):
        check_request(config, request)


def test_max_tokens_above_the_instance_limit_is_refused() -> None:
    config = InstanceConfig(name="small", type="openai", capabilities={"max_output_tokens": 100})
    with pytest.raises(InvalidRequest, match="exceeds") as caught:
        check_request(config, _request(max_tokens=101))
    assert caught.value.param == "max_tokens"
    check_request(config, _request(max_tokens=100))


@pytest.mark.parametrize("kind", ["anthropic", "bedrock", "vertex", "ollama", "watsonx"])
def test_tool_call_arguments_nested_past_the_parser_limit_are_a_400(kind: str) -> None:
    config = InstanceConfig(name="x", type=kind, project="p", region="r")
    call = ToolCall("call_1", "lookup", "[" * 30000)
    messages = (
        Message("user", (TextPart("hi"),)),
        Message("assistant", tool_calls=(call,)),
        Message("tool", (TextPart("result"),), tool_call_id="call_1"),
    )
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        check_request(config, ChatRequest(model="m", messages=messages))


def test_a_missing_sdk_names_the_extra_that_installs_it() -> None:
    # The loader every adapter and credential probe goes through, given a module that is
    # not installed (what `import oci` is where the `oci` extra was left out).
    with pytest.raises(SdkMissing) as caught:
        _load_sdk("oci", "llm_gateway_absent_sdk:OCIChatProvider")
    message = str(caught.value)
    assert "pip install 'llm-gateway[oci]'" in message
    assert "llm_gateway_absent_sdk" in message


# The API process with none of the optional SDKs importable: it must still start and check
# requests for every provider type (the checks are the wire mappings, SDK-free).
WITHOUT_SDKS = """
import importlib.abc, sys

ABSENT = ("boto3", "botocore", "google.auth", "google.oauth2", "azure", "oci")

class WithoutSdks(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == top or name.startswith(top + ".") for top in ABSENT):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, WithoutSdks())
import api.main
from providers.config import InstanceConfig
from providers.registry import PROVIDER_KINDS, check_request
from providers.types import ChatRequest, Message, TextPart

request = ChatRequest(model="m", messages=(Message("user", (TextPart("hi"),)),))
for kind in PROVIDER_KINDS:
    check_request(InstanceConfig(name="x", type=kind, project="p", region="r"), request)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "azure", "oci"))
print("checked", len(PROVIDER_KINDS), loaded)
"""


def test_the_api_and_every_request_check_run_without_the_optional_sdks() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_SDKS],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"checked {len(PROVIDER_KINDS)} []"
