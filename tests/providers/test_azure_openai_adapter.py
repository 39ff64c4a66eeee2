"""The Azure OpenAI adapter (the official ``openai`` SDK's ``AzureOpenAI`` client) against the
emulator's deployment endpoint over real HTTP: every credential kind, the api-version and
the deployment path. What every adapter does is checked in ``test_adapter_contract.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import EmulatorControl, directive
from emulator.protocols.azure_openai import MANAGED_IDENTITY_PATH
from gateway.credentials import CredentialResolver, Credentials, EnvSource
from gateway.errors import ProviderError
from providers.azure_openai import AzureOpenAIProvider, azure_identity_available
from providers.config import InstanceConfig
from providers.registry import build_provider, resolve_credentials
from providers.types import ChatRequest, ChatResponse, Message, TextPart

API_KEY = "azure-test-adapter-SECRET-5a4b3c2d1e0f"
AD_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.adapter-test-SECRET-token"
ENVIRON = {"TEST_AZURE_KEY": API_KEY, "TEST_AZURE_TOKEN": AD_TOKEN}
API_VERSION = "2024-10-21"
DEPLOYMENT = "gpt-4o-prod"
# Every variable azure-identity's default chain looks at to pick an identity.
IDENTITY_VARIABLES = [
    *("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME"),
    *("AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "IMDS_ENDPOINT"),
    *("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET"),
]


def instance(
    url: str, field: str = "api_key", variable: str = "TEST_AZURE_KEY", **over: Any
) -> InstanceConfig:
    fields: dict[str, Any] = {
        "name": "azure-test",
        "type": "azure_openai",
        "base_url": url,
        "api_version": API_VERSION,
        "deployments": {DEPLOYMENT: "gpt-4o"},
        "credentials": [EnvSource(type="env", vars={field: variable})],
        "timeout_seconds": 10.0,
    }
    return InstanceConfig(**{**fields, **over})


def build(config: InstanceConfig) -> AzureOpenAIProvider:
    """As a worker does: credentials resolved from ``ENVIRON``, then the registry's adapter."""
    adapter = build_provider(config, resolve_credentials(config, CredentialResolver(ENVIRON)))
    assert isinstance(adapter, AzureOpenAIProvider)
    return adapter


@pytest.fixture
def azure(emulator_control: EmulatorControl) -> Iterator[AzureOpenAIProvider]:
    adapter = build(instance(emulator_control.base_url))
    yield adapter
    adapter.close()


@pytest.fixture
def no_azure_identity(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in IDENTITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def user(text: str) -> Message:
    return Message("user", (TextPart(text),))


def ask(provider: AzureOpenAIProvider, *messages: Message, **fields: Any) -> ChatResponse:
    return provider.complete(ChatRequest(model=DEPLOYMENT, messages=messages, **fields))


def last(control: EmulatorControl) -> dict[str, Any]:
    return control.requests()[-1]


def test_plain_completion_goes_to_the_deployment_with_api_version_and_api_key(
    azure: AzureOpenAIProvider, emulator_control: EmulatorControl
) -> None:
    response = ask(azure, user("Hello there"))
    assert response.message == Message("assistant", (TextPart("echo: Hello there"),))
    assert (response.finish_reason, response.model) == ("stop", DEPLOYMENT)
    assert response.provider_response_id
    record = last(emulator_control)
    assert record["protocol"] == "azure_openai"
    assert record["path"] == f"/openai/deployments/{DEPLOYMENT}/chat/completions"
    assert (record["model"], record["query"]) == (DEPLOYMENT, {"api-version": API_VERSION})
    assert record["auth"] == {"scheme": "api-key"}


def test_system_prompt_travels_as_the_first_message(
    azure: AzureOpenAIProvider, emulator_control: EmulatorControl
) -> None:
    ask(azure, Message("system", (TextPart("Be terse."),)), user("Hi"))
    system = last(emulator_control)["body"]["messages"][0]
    assert system == {"role": "system", "content": "Be terse."}


@pytest.mark.parametrize(
    ("options", "field"),
    [({}, "max_completion_tokens"), ({"max_tokens_field": "max_tokens"}, "max_tokens")],
)
def test_max_tokens_field_follows_the_option(
    emulator_control: EmulatorControl,
    options: dict[str, str],
    field: str,
) -> None:
    adapter = build(instance(emulator_control.base_url, options=options))
    ask(adapter, user("x"), max_tokens=33)
    adapter.close()
    assert last(emulator_control)["body"][field] == 33


def test_a_static_entra_token_is_sent_as_a_bearer_token(emulator_control: EmulatorControl) -> None:
    adapter = build(instance(emulator_control.base_url, "azure_ad_token", "TEST_AZURE_TOKEN"))
    assert ask(adapter, user("hi")).message.text == "echo: hi"
    adapter.close()
    assert last(emulator_control)["auth"] == {"scheme": "bearer"}


def test_ambient_identity_fetches_an_entra_token_from_the_managed_identity_endpoint(
    emulator_control: EmulatorControl,
    no_azure_identity: pytest.MonkeyPatch,
) -> None:
    no_azure_identity.setenv("IDENTITY_ENDPOINT", emulator_control.base_url + MANAGED_IDENTITY_PATH)
    no_azure_identity.setenv("IDENTITY_HEADER", "emulated-identity-header")
    config = instance(emulator_control.base_url, credentials=[{"type": "workload_identity"}])
    credentials = resolve_credentials(config, CredentialResolver({}))
    assert credentials.ambient

    adapter = build_provider(config, credentials)
    assert isinstance(adapter, AzureOpenAIProvider)
    assert ask(adapter, user("hi")).message.text == "echo: hi"
    adapter.close()
    assert last(emulator_control)["auth"] == {"scheme": "bearer"}


def test_ambient_identity_refused_a_token_is_auth_failed(
    emulator_control: EmulatorControl,
    no_azure_identity: pytest.MonkeyPatch,
) -> None:
    no_azure_identity.setenv(
        "IDENTITY_ENDPOINT", emulator_control.base_url + "/msi/no-such-endpoint"
    )
    no_azure_identity.setenv("IDENTITY_HEADER", "emulated-identity-header")
    adapter = AzureOpenAIProvider(
        instance(emulator_control.base_url), Credentials(source="workload_identity", ambient=True)
    )
    with pytest.raises(ProviderError) as caught:
        ask(adapter, user("hi"))
    adapter.close()
    assert type(caught.value) is ProviderError
    assert caught.value.message == "provider authentication failed"
    assert emulator_control.requests() == []  # no token, no call


def test_an_instance_without_credential_sources_sends_a_placeholder_key(
    emulator_control: EmulatorControl,
) -> None:
    adapter = build(instance(emulator_control.base_url, credentials=[]))
    assert ask(adapter, user("hi")).message.text == "echo: hi"
    adapter.close()
    assert last(emulator_control)["auth"] == {"scheme": "api-key"}


@pytest.mark.parametrize("missing", ["base_url", "api_version"])
def test_an_instance_without_endpoint_or_api_version_is_refused(missing: str) -> None:
    config = instance("http://127.0.0.1:9", **{missing: None})
    with pytest.raises(ValueError, match="needs base_url and api_version"):
        AzureOpenAIProvider(config, Credentials(source="test", fields={"api_key": API_KEY}))


CLIENT = {"AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t"}
IDENTITIES = {
    "nothing": ({}, False),
    "workload-identity": (CLIENT | {"AZURE_FEDERATED_TOKEN_FILE": "/var/run/token"}, True),
    "service-principal-secret": (CLIENT | {"AZURE_CLIENT_SECRET": "s"}, True),
    "service-principal-certificate": (CLIENT | {"AZURE_CLIENT_CERTIFICATE_PATH": "/c.pem"}, True),
    "client-without-secret": (CLIENT, False),
    "secret-without-client": ({"AZURE_CLIENT_SECRET": "s"}, False),
    "app-service-managed-identity": ({"IDENTITY_ENDPOINT": "http://127.0.0.1:41741/msi"}, True),
    "cloud-shell-managed-identity": ({"MSI_ENDPOINT": "http://127.0.0.1:50342/token"}, True),
}


@pytest.mark.parametrize(("variables", "available"), IDENTITIES.values(), ids=IDENTITIES.keys())
def test_identity_probe_reads_the_chains_environment_only(
    no_azure_identity: pytest.MonkeyPatch, variables: dict[str, str], available: bool
) -> None:
    for name, value in variables.items():
        no_azure_identity.setenv(name, value)
    assert azure_identity_available(instance("http://127.0.0.1:9")) is available


@pytest.mark.parametrize("status", [400, 429, 500])
def test_errors_never_contain_the_entra_token(
    emulator_control: EmulatorControl, status: int
) -> None:
    # The API key's case is the adapter contract's (test_adapter_contract.py).
    adapter = build(instance(emulator_control.base_url, "azure_ad_token", "TEST_AZURE_TOKEN"))
    with pytest.raises(ProviderError) as caught:
        ask(adapter, user(directive(status=status, error=f"credential was {AD_TOKEN}")))
    adapter.close()
    error = caught.value
    public = " ".join([str(error), repr(error), json.dumps(error.to_dict())])
    assert AD_TOKEN not in public and "[redacted]" in error.message
    assert error.__cause__ is None and error.__suppress_context__
