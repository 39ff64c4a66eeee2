"""The Azure OpenAI adapter (the official ``openai`` SDK's ``AzureOpenAI`` client) against the
emulator's deployment endpoint over real HTTP: every credential kind, the api-version, the
deployment path, and the error mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import EmulatorControl, directive
from emulator.protocols.azure_openai import MANAGED_IDENTITY_PATH
from gateway.errors import ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from providers.azure_openai import AzureOpenAIProvider, azure_identity_available
from providers.config import InstanceConfig
from providers.credentials import CredentialResolver, Credentials, EnvSource
from providers.registry import build_provider, resolve_credentials
from providers.types import ChatRequest, ChatResponse, Message, TextPart, ToolDefinition, Usage

API_KEY = "azure-test-adapter-SECRET-5a4b3c2d1e0f"
AD_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.adapter-test-SECRET-token"
ENVIRON = {"TEST_AZURE_KEY": API_KEY, "TEST_AZURE_TOKEN": AD_TOKEN}
API_VERSION = "2024-10-21"
DEPLOYMENT = "gpt-4o-prod"
WEATHER = ToolDefinition("get_weather", "Weather", {"properties": {"city": {"type": "string"}}})
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


def test_tool_call_round_trip(azure: AzureOpenAIProvider) -> None:
    script = directive(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    question = user(f"Weather in Paris? {script}")

    first = ask(azure, question, tools=(WEATHER,), tool_choice="auto")

    assert first.finish_reason == "tool_calls"
    [call] = first.message.tool_calls
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    result = Message("tool", (TextPart("18C and sunny"),), tool_call_id=call.id)
    second = ask(azure, question, first.message, result, tools=(WEATHER,))
    assert (second.message.text, second.finish_reason) == ("tool results: 18C and sunny", "stop")


def test_usage_reports_the_providers_token_counts(azure: AzureOpenAIProvider) -> None:
    script = directive(usage={"prompt_tokens": 11, "completion_tokens": 7})
    assert ask(azure, user(f"count {script}")).usage == Usage(11, 7)


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


def test_429_is_rate_limited_with_retry_after(
    azure: AzureOpenAIProvider, emulator_control: EmulatorControl
) -> None:
    limited = "Requests to the ChatCompletions_Create Operation have exceeded token rate limit."
    with pytest.raises(ProviderRateLimited) as caught:
        ask(azure, user(directive(status=429, retry_after=2, error=limited)))
    error = caught.value
    assert (error.retry_after, error.upstream_status, error.provider) == (2, 429, "azure-test")
    assert limited in error.message
    assert len(emulator_control.requests()) == 1  # SDK retries are off


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_server_errors_are_retryable_unavailable(azure: AzureOpenAIProvider, status: int) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        ask(azure, user(directive(status=status)))
    assert (caught.value.upstream_status, caught.value.retryable) == (status, True)


@pytest.mark.parametrize("status", [400, 404])
def test_client_errors_are_rejected_with_the_providers_message(
    azure: AzureOpenAIProvider, status: int
) -> None:
    message = "The API deployment for this resource does not exist."
    with pytest.raises(ProviderRejected) as caught:
        ask(azure, user(directive(status=status, error=message)))
    assert (caught.value.message, caught.value.upstream_status) == (message, status)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_502_without_the_providers_text(
    azure: AzureOpenAIProvider, status: int
) -> None:
    with pytest.raises(ProviderError) as caught:
        ask(azure, user(directive(status=status, error=f"key {API_KEY} is invalid")))
    assert type(caught.value) is ProviderError and caught.value.status_code == 502
    assert caught.value.message == "provider authentication failed"


CREDENTIALS = {
    "api-key": ("api_key", "TEST_AZURE_KEY"),
    "entra": ("azure_ad_token", "TEST_AZURE_TOKEN"),
}


@pytest.mark.parametrize("kind", CREDENTIALS)
@pytest.mark.parametrize("status", [400, 429, 500])
def test_errors_never_contain_the_credential(
    emulator_control: EmulatorControl, kind: str, status: int
) -> None:
    field, variable = CREDENTIALS[kind]
    secret = ENVIRON[variable]
    adapter = build(instance(emulator_control.base_url, field, variable))
    with pytest.raises(ProviderError) as caught:
        ask(adapter, user(directive(status=status, error=f"credential was {secret}")))
    adapter.close()
    error = caught.value
    public = " ".join([str(error), repr(error), json.dumps(error.to_dict())])
    assert secret not in public and "[redacted]" in error.message
    assert error.__cause__ is None and error.__suppress_context__


def test_connection_refused_is_unavailable(closed_port_url: str) -> None:
    adapter = build(instance(closed_port_url))
    with pytest.raises(ProviderUnavailable) as caught:
        ask(adapter, user("hi"))
    adapter.close()
    assert (caught.value.upstream_status, caught.value.retryable) == (None, True)


def test_slow_deployment_times_out_as_unavailable(emulator_control: EmulatorControl) -> None:
    adapter = build(instance(emulator_control.base_url, timeout_seconds=0.3))
    with pytest.raises(ProviderUnavailable) as caught:
        ask(adapter, user(directive(latency_ms=1500)))
    adapter.close()
    assert "in time" in caught.value.message
