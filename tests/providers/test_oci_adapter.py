"""The OCI adapter against the emulator over real HTTP, through the official ``oci`` SDK
and its request signer, with a generated API key read from a file as a worker reads it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import EmulatorControl, directive
from emulator.local_env import emulator_env
from emulator.protocols.oci_chat import SESSION_TOKEN_KEY_ID
from gateway.errors import (
    InvalidRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from providers.base import Provider
from providers.config import InstanceConfig
from providers.credentials import CredentialResolver, Credentials
from providers.oci_chat import OCIChatProvider, oci_principal_available
from providers.registry import build_provider, resolve_credentials
from providers.types import ChatRequest, ChatResponse, Message, TextPart, ToolDefinition, Usage

MODEL = "meta.llama-3.3-70b-instruct"
TENANCY = "ocid1.tenancy.oc1..aaaaaaaatenancy"
USER = "ocid1.user.oc1..aaaaaaaauser"
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = ToolDefinition("get_weather", "Current weather for a city", CITY)


@pytest.fixture(scope="session")
def api_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A generated private key file and its OCI fingerprint."""
    env = emulator_env("http://unused", tmp_path_factory.mktemp("oci"))
    return Path(env["OCI_PRIVATE_KEY_FILE"]), env["OCI_KEY_FINGERPRINT"]


def instance(url: str, api_key: tuple[Path, str], **fields: Any) -> InstanceConfig:
    key_file, fingerprint = api_key
    ids = {"user": USER, "tenancy": TENANCY, "fingerprint": fingerprint}
    options = {"compartment_id": "ocid1.compartment.oc1..aaaaaaaacompartment", **ids}
    credentials = [{"type": "file", "files": {"private_key": str(key_file)}}]
    fields = {"credentials": credentials, "options": options, "timeout_seconds": 10, **fields}
    return InstanceConfig(
        name="oci-test", type="oci", base_url=url, region="us-chicago-1", **fields
    )


def build(config: InstanceConfig) -> Provider:
    """The adapter with its credentials resolved as a worker does."""
    return build_provider(config, resolve_credentials(config, CredentialResolver({})))


@pytest.fixture
def provider(
    provider_emulator_url: str, emulator_control: EmulatorControl, api_key: tuple[Path, str]
) -> Iterator[Provider]:
    adapter = build(instance(provider_emulator_url, api_key))
    yield adapter
    adapter.close()


def user(text: str) -> Message:
    return Message("user", (TextPart(text),))


def ask(provider: Provider, *messages: Message, **fields: Any) -> ChatResponse:
    return provider.complete(ChatRequest(model=MODEL, messages=messages, **fields))


def last_chat(control: EmulatorControl) -> dict[str, Any]:
    chat: dict[str, Any] = control.requests()[-1]["body"]["chatRequest"]
    return chat


# --- successful calls ------------------------------------------------------------------------


def test_plain_completion_returns_the_reply_with_usage(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    response = ask(provider, user("Hello there"))
    assert response.message == Message("assistant", (TextPart("echo: Hello there"),))
    assert response.finish_reason == "stop"
    assert response.model == MODEL
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens > 0
    [record] = emulator_control.requests()
    assert (record["protocol"], record["model"]) == ("oci", MODEL)


def test_requests_are_signed_with_the_configured_key_id(
    provider: Provider, emulator_control: EmulatorControl, api_key: tuple[Path, str]
) -> None:
    response = ask(provider, user("hi"))
    auth = emulator_control.requests()[-1]["auth"]
    assert auth["key_id"] == f"{TENANCY}/{USER}/{api_key[1]}"
    signed = "date (request-target) host content-length content-type x-content-sha256"
    assert auth["signed_headers"] == signed
    # The response's opc-request-id is OCI's only id for the exchange.
    assert response.provider_response_id


def test_system_prompt_is_a_system_message_on_the_wire(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    response = ask(provider, Message("system", (TextPart("Be terse."),)), user("Hi"))
    assert response.message.text == "echo: Hi"
    messages = last_chat(emulator_control)["messages"]
    assert messages[0] == {"role": "SYSTEM", "content": [{"type": "TEXT", "text": "Be terse."}]}
    assert last_chat(emulator_control)["apiFormat"] == "GENERIC"


def test_tool_call_round_trip(provider: Provider, emulator_control: EmulatorControl) -> None:
    script = directive(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    question = user(f"Weather in Paris? {script}")

    first = ask(provider, question, tools=(WEATHER,), tool_choice="auto")

    assert first.finish_reason == "tool_calls"
    [call] = first.message.tool_calls
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    assert last_chat(emulator_control)["toolChoice"] == {"type": "AUTO"}

    result = Message("tool", (TextPart("18C and sunny"),), tool_call_id=call.id)
    second = ask(provider, question, first.message, result, tools=(WEATHER,))

    assert second.message.text == "tool results: 18C and sunny"
    assert (second.message.tool_calls, second.finish_reason) == ((), "stop")
    assert last_chat(emulator_control)["messages"][-1]["toolCallId"] == call.id


def test_usage_finish_reason_and_max_tokens_cross_the_wire(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 7}
    script = directive(reply="x", finish_reason="length", usage=usage)
    response = ask(provider, user(script), max_tokens=33)
    assert (response.message.text, response.finish_reason) == ("x", "length")
    assert response.usage == Usage(11, 7)
    assert last_chat(emulator_control)["maxTokens"] == 33


def test_an_instance_without_credential_sources_signs_with_a_throwaway_key(
    provider_emulator_url: str, emulator_control: EmulatorControl, api_key: tuple[Path, str]
) -> None:
    adapter = build(instance(provider_emulator_url, api_key, credentials=[]))
    assert ask(adapter, user("hi")).message.text == "echo: hi"
    adapter.close()


def test_cohere_models_are_refused_before_any_call(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    with pytest.raises(InvalidRequest):
        provider.complete(ChatRequest(model="cohere.command-r-08-2024", messages=(user("x"),)))
    assert emulator_control.requests() == []


# --- errors ----------------------------------------------------------------------------------


def test_429_is_rate_limited_with_retry_after_and_tried_once(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    with pytest.raises(ProviderRateLimited) as caught:
        ask(provider, user(directive(status=429, retry_after=2)))
    error = caught.value
    assert (error.retry_after, error.upstream_status, error.retryable) == (2, 429, True)
    assert error.provider == "oci-test"
    assert len(emulator_control.requests()) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 409])
def test_server_errors_are_retryable_unavailable(provider: Provider, status: int) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        ask(provider, user(directive(status=status)))
    assert (caught.value.upstream_status, caught.value.retryable) == (status, True)


def test_sdk_retries_and_circuit_breaker_are_off(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    # The SDK's default breaker opens after 10 failures and then fails calls locally.
    for _ in range(12):
        with pytest.raises(ProviderUnavailable):
            ask(provider, user(directive(status=500)))
    assert len(emulator_control.requests()) == 12


@pytest.mark.parametrize("status", [400, 404, 413])
def test_client_errors_are_rejected_with_the_providers_message(
    provider: Provider, status: int
) -> None:
    with pytest.raises(ProviderRejected) as caught:
        ask(provider, user(directive(status=status, error="bad thing")))
    error = caught.value
    assert error.message == "bad thing"
    assert (error.upstream_status, error.retryable, error.status_code) == (status, False, 400)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_502_and_not_retried(provider: Provider, status: int) -> None:
    with pytest.raises(ProviderError) as caught:
        ask(provider, user(directive(status=status, error="key ocid1.tenancy rejected")))
    assert type(caught.value) is ProviderError
    assert (caught.value.status_code, caught.value.retryable) == (502, False)
    assert caught.value.message == "provider authentication failed"


@pytest.mark.parametrize("status", [400, 429, 500])
def test_error_never_contains_the_private_key(
    provider: Provider, api_key: tuple[Path, str], status: int
) -> None:
    key_line = api_key[0].read_text().splitlines()[3]
    with pytest.raises(ProviderError) as caught:
        ask(provider, user(directive(status=status, error=f"key material {key_line}")))
    error = caught.value
    public = " ".join([str(error), repr(error), json.dumps(error.to_dict())])
    assert key_line not in public
    assert "[redacted]" in error.message
    # Not chained: the SDK error carries the signed request, Authorization header included.
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_connection_refused_is_unavailable(closed_port_url: str, api_key: tuple[Path, str]) -> None:
    adapter = build(instance(closed_port_url, api_key))
    with pytest.raises(ProviderUnavailable) as caught:
        ask(adapter, user("hi"))
    adapter.close()
    assert (caught.value.retryable, caught.value.upstream_status) == (True, None)
    assert caught.value.message == "could not connect to the provider"


def test_slow_provider_times_out_as_unavailable(
    provider_emulator_url: str, emulator_control: EmulatorControl, api_key: tuple[Path, str]
) -> None:
    adapter = build(instance(provider_emulator_url, api_key, timeout_seconds=0.3))
    with pytest.raises(ProviderUnavailable) as caught:
        ask(adapter, user(directive(latency_ms=1500)))
    adapter.close()
    assert caught.value.message == "the provider did not answer in time"


# --- configuration ---------------------------------------------------------------------------


def test_missing_compartment_is_a_configuration_error(
    provider_emulator_url: str, api_key: tuple[Path, str]
) -> None:
    config = instance(provider_emulator_url, api_key, options={"user": USER})
    with pytest.raises(ValueError, match="compartment_id"):
        build(config)


def test_an_unreadable_key_is_reported_without_its_text(
    provider_emulator_url: str, api_key: tuple[Path, str]
) -> None:
    garbage = "-----BEGIN PRIVATE KEY-----\nTHIS-IS-NOT-A-KEY-0123456789abcdef\n"
    credentials = Credentials(source="test", fields={"private_key": garbage})
    with pytest.raises(ValueError) as caught:
        OCIChatProvider(instance(provider_emulator_url, api_key), credentials)
    assert "THIS-IS-NOT-A-KEY" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_a_resource_principal_signs_with_its_session_token_when_its_variables_are_set(
    monkeypatch: pytest.MonkeyPatch,
    provider_emulator_url: str,
    emulator_control: EmulatorControl,
    api_key: tuple[Path, str],
) -> None:
    ambient = [{"type": "workload_identity"}]
    config = instance(provider_emulator_url, api_key, credentials=ambient)
    monkeypatch.delenv("OCI_RESOURCE_PRINCIPAL_VERSION", raising=False)
    assert not oci_principal_available(config)
    # A v2.2 resource principal: a session token (a JWT the SDK reads, unverified) and a key.
    claims = {"exp": int(time.time()) + 3600, "sub": "ocid1.fnfunc.oc1..f"}
    token = ".".join(
        base64.urlsafe_b64encode(json.dumps(p).encode()).decode() for p in ({}, claims)
    )
    variables = {"VERSION": "2.2", "RPST": f"{token}.sig", "REGION": "us-chicago-1"}
    for name, value in {**variables, "PRIVATE_PEM": api_key[0].read_text()}.items():
        monkeypatch.setenv(f"OCI_RESOURCE_PRINCIPAL_{name}", value)
    assert oci_principal_available(config)
    adapter = build(config)
    assert ask(adapter, user("hi")).message.text == "echo: hi"
    adapter.close()
    assert emulator_control.requests()[-1]["auth"]["key_id"] == SESSION_TOKEN_KEY_ID
