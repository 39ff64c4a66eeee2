"""Both adapters against the emulator over real HTTP, through the official SDKs.

Every test runs once per provider type; behaviour is scripted with in-text directives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import EmulatorControl, directive
from gateway.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from providers.base import Provider
from providers.config import InstanceConfig
from providers.credentials import CredentialResolver
from providers.registry import build_provider, resolve_credentials
from providers.types import ChatRequest, ChatResponse, Message, TextPart, ToolDefinition, Usage

KEYS = {
    "TEST_OPENAI_KEY": "sk-test-adapters-openai-SECRET-7f6e5d4c",
    "TEST_ANTHROPIC_KEY": "sk-ant-test-adapters-SECRET-1a2b3c4d",
}
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
WEATHER = ToolDefinition(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def instance(kind: str, emulator_url: str, **fields: Any) -> InstanceConfig:
    # The OpenAI SDK's base URL includes /v1; the Anthropic SDK adds it itself.
    base_url = emulator_url + "/v1" if kind == "openai" else emulator_url
    env = "TEST_OPENAI_KEY" if kind == "openai" else "TEST_ANTHROPIC_KEY"
    fields = {"timeout_seconds": 10.0, "api_key_env": env, **fields}
    return InstanceConfig(name=f"{kind}-test", type=kind, base_url=base_url, **fields)


def build(config: InstanceConfig, environ: dict[str, str] = KEYS) -> Provider:
    """The adapter with its credentials resolved from ``environ``, as a worker does."""
    return build_provider(config, resolve_credentials(config, CredentialResolver(environ)))


@pytest.fixture(params=["openai", "anthropic"])
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def provider(
    kind: str, provider_emulator_url: str, emulator_control: EmulatorControl
) -> Iterator[Provider]:
    adapter = build(instance(kind, provider_emulator_url))
    yield adapter
    adapter.close()


@pytest.fixture
def api_key(kind: str) -> str:
    return KEYS["TEST_OPENAI_KEY" if kind == "openai" else "TEST_ANTHROPIC_KEY"]


def user(text: str) -> Message:
    return Message("user", (TextPart(text),))


def ask(provider: Provider, kind: str, *messages: Message, **fields: Any) -> ChatResponse:
    return provider.complete(ChatRequest(model=MODELS[kind], messages=messages, **fields))


def last_body(control: EmulatorControl) -> dict[str, Any]:
    body: dict[str, Any] = control.requests()[-1]["body"]
    return body


# --- successful calls ------------------------------------------------------------------------


def test_plain_completion_returns_the_reply_with_usage_and_ids(
    provider: Provider, kind: str
) -> None:
    response = ask(provider, kind, user("Hello there"))
    assert response.message == Message("assistant", (TextPart("echo: Hello there"),))
    assert response.finish_reason == "stop"
    assert response.model == MODELS[kind]
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens > 0
    assert response.provider_response_id


def test_system_prompt_travels_in_each_providers_own_place(
    provider: Provider, kind: str, emulator_control: EmulatorControl
) -> None:
    response = ask(provider, kind, Message("system", (TextPart("Be terse."),)), user("Hi"))
    assert response.message.text == "echo: Hi"
    body = last_body(emulator_control)
    if kind == "openai":
        assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    else:
        assert body["system"] == "Be terse."
        assert [m["role"] for m in body["messages"]] == ["user"]


def test_tool_call_round_trip(provider: Provider, kind: str) -> None:
    script = directive(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    question = user(f"Weather in Paris? {script}")

    first = ask(provider, kind, question, tools=(WEATHER,), tool_choice="auto")

    assert first.finish_reason == "tool_calls"
    [call] = first.message.tool_calls
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}

    result = Message("tool", (TextPart("18C and sunny"),), tool_call_id=call.id)
    second = ask(provider, kind, question, first.message, result, tools=(WEATHER,))

    assert second.message.text == "tool results: 18C and sunny"
    assert second.message.tool_calls == ()
    assert second.finish_reason == "stop"


def test_usage_reports_the_providers_token_counts(provider: Provider, kind: str) -> None:
    script = directive(usage={"prompt_tokens": 11, "completion_tokens": 7})
    assert ask(provider, kind, user(f"count {script}")).usage == Usage(11, 7)


def test_scripted_reply_and_length_finish_reason(provider: Provider, kind: str) -> None:
    response = ask(provider, kind, user(directive(reply="x", finish_reason="length")))
    assert (response.message.text, response.finish_reason) == ("x", "length")


def test_max_tokens_is_sent_under_each_providers_name(
    provider: Provider, kind: str, emulator_control: EmulatorControl
) -> None:
    ask(provider, kind, user("x"), max_tokens=33)
    field = "max_completion_tokens" if kind == "openai" else "max_tokens"
    assert last_body(emulator_control)[field] == 33


def test_anthropic_gets_the_configured_default_max_tokens(
    provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    config = instance("anthropic", provider_emulator_url, options={"default_max_tokens": "256"})
    adapter = build(config)
    ask(adapter, "anthropic", user("x"))
    adapter.close()
    assert last_body(emulator_control)["max_tokens"] == 256


def test_an_instance_without_credential_sources_sends_a_placeholder_the_emulator_accepts(
    kind: str, provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    adapter = build(instance(kind, provider_emulator_url, api_key_env=None), environ={})
    assert ask(adapter, kind, user("hi")).message.text == "echo: hi"
    adapter.close()


# --- errors ----------------------------------------------------------------------------------


def test_429_is_rate_limited_with_retry_after(provider: Provider, kind: str) -> None:
    with pytest.raises(ProviderRateLimited) as caught:
        ask(provider, kind, user(directive(status=429, retry_after=2)))
    error = caught.value
    assert error.retry_after == 2
    assert (error.provider, error.upstream_status, error.retryable) == (f"{kind}-test", 429, True)


@pytest.mark.parametrize("status", [500, 502, 503, 529, 408, 409])
def test_server_errors_and_transient_conflicts_are_retryable_unavailable(
    provider: Provider, kind: str, status: int
) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        ask(provider, kind, user(directive(status=status)))
    assert (caught.value.upstream_status, caught.value.retryable) == (status, True)
    assert caught.value.provider == f"{kind}-test"


def test_500_is_tried_exactly_once_because_sdk_retries_are_off(
    provider: Provider, kind: str, emulator_control: EmulatorControl
) -> None:
    with pytest.raises(ProviderUnavailable):
        ask(provider, kind, user(directive(status=500)))
    assert len(emulator_control.requests()) == 1


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_client_errors_are_rejected_with_the_providers_message(
    provider: Provider, kind: str, status: int
) -> None:
    with pytest.raises(ProviderRejected) as caught:
        ask(provider, kind, user(directive(status=status, error="bad thing")))
    error = caught.value
    assert error.message == "bad thing"
    assert (error.upstream_status, error.retryable, error.status_code) == (status, False, 400)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_502_and_do_not_echo_the_providers_text(
    provider: Provider, kind: str, api_key: str, status: int
) -> None:
    echoed = f"Incorrect API key provided: {api_key}"
    with pytest.raises(ProviderError) as caught:
        ask(provider, kind, user(directive(status=status, error=echoed)))
    # A bad provider credential is the operator's fault, not the caller's: 502, no retry.
    assert type(caught.value) is ProviderError
    assert (caught.value.status_code, caught.value.retryable) == (502, False)
    assert caught.value.message == "provider authentication failed"
    assert caught.value.upstream_status == status


@pytest.mark.parametrize("status", [400, 429, 500])
def test_error_never_contains_the_api_key(
    provider: Provider, kind: str, api_key: str, status: int
) -> None:
    with pytest.raises(ProviderError) as caught:
        ask(provider, kind, user(directive(status=status, error=f"header was Bearer {api_key}")))
    error = caught.value
    public = " ".join([str(error), repr(error), json.dumps(error.to_dict())])
    assert api_key not in public
    assert "[redacted]" in error.message
    # Not chained: the SDK error carries the request, Authorization header included.
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_connection_refused_is_unavailable(kind: str, closed_port_url: str) -> None:
    adapter = build(instance(kind, closed_port_url))
    with pytest.raises(ProviderUnavailable) as caught:
        ask(adapter, kind, user("hi"))
    adapter.close()
    assert caught.value.retryable
    assert caught.value.upstream_status is None
    assert caught.value.provider == f"{kind}-test"


def test_slow_provider_times_out_as_unavailable(
    kind: str, provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    adapter = build(instance(kind, provider_emulator_url, timeout_seconds=0.3))
    with pytest.raises(ProviderUnavailable) as caught:
        ask(adapter, kind, user(directive(latency_ms=1500)))
    adapter.close()
    assert "in time" in caught.value.message
