"""The OCI adapter against the emulator over real HTTP, through the official ``oci`` SDK
and its request signer, with a generated API key read from a file as a worker reads it:
OCI's wire format, signing, and the SDK's retry and breaker settings. What every adapter
does is checked in ``test_adapter_contract.py``."""

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
from gateway.credentials import CredentialResolver, Credentials
from gateway.errors import (
    InvalidRequest,
    ProviderUnavailable,
)
from providers.base import Provider
from providers.config import InstanceConfig
from providers.oci_chat import OCIChatProvider, oci_principal_available
from providers.registry import build_provider, resolve_credentials
from providers.streaming import TextDelta
from providers.types import ChatRequest, ChatResponse, Message, TextPart
from tests.support.vendors import weather_round_trip

MODEL = "meta.llama-3.3-70b-instruct"
TENANCY = "ocid1.tenancy.oc1..aaaaaaaatenancy"
USER = "ocid1.user.oc1..aaaaaaaauser"


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


def test_a_completion_is_one_oci_chat_call_for_the_model(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    assert ask(provider, user("Hello there")).message.text == "echo: Hello there"
    [record] = emulator_control.requests()
    assert (record["protocol"], record["path"]) == ("oci", "/20231130/actions/chat")
    assert record["model"] == MODEL


def test_a_stream_is_the_same_signed_chat_call_with_is_stream_and_usage_asked_for(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    events = list(provider.stream(ChatRequest(model=MODEL, messages=(user("Hello there"),))))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "echo: Hello there"
    [record] = emulator_control.requests()
    assert (record["path"], record["stream"], record["auth"]["scheme"]) == (
        "/20231130/actions/chat",
        True,
        "Signature",
    )
    chat = last_chat(emulator_control)
    assert (chat["isStream"], chat["streamOptions"]) == (True, {"isIncludeUsage": True})


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


def test_tool_choice_and_tool_call_ids_cross_the_wire(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    call = weather_round_trip(provider, MODEL)
    asked, answered = emulator_control.requests()
    assert asked["body"]["chatRequest"]["toolChoice"] == {"type": "AUTO"}
    assert answered["body"]["chatRequest"]["messages"][-1]["toolCallId"] == call.id


def test_max_tokens_is_sent_as_max_tokens(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    ask(provider, user("x"), max_tokens=33)
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
    with pytest.raises(InvalidRequest, match="cohere"):
        provider.complete(ChatRequest(model="cohere.command-r-08-2024", messages=(user("x"),)))
    assert emulator_control.requests() == []


# --- errors ----------------------------------------------------------------------------------


def test_sdk_retries_and_circuit_breaker_are_off(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    # The SDK's default breaker opens after 10 failures and then fails calls locally.
    for _ in range(12):
        with pytest.raises(ProviderUnavailable, match=r"^the provider failed: "):
            ask(provider, user(directive(status=500)))
    assert len(emulator_control.requests()) == 12


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
    with pytest.raises(ValueError, match=r"private key|OCI configuration") as caught:
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
