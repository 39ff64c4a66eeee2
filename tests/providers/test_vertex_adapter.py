"""The Vertex AI Gemini adapter against the emulator over real HTTP, with a real
service-account token exchange (google-auth signs a JWT; the emulator issues the token)."""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator import EmulatorControl, directive
from emulator.local_env import GOOGLE_TOKEN_PATH, service_account
from emulator.protocols.google_oauth import EXCHANGES_PATH
from gateway.errors import ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from providers.config import InstanceConfig
from providers.credentials import CredentialResolver, Credentials
from providers.registry import build_provider, resolve_credentials
from providers.types import ChatRequest, ChatResponse, Message, TextPart, ToolDefinition, Usage
from providers.upstream_errors import AUTH_FAILED
from providers.vertex_gemini import VertexGeminiProvider, google_default_available

MODEL = "gemini-2.5-flash"
PROJECT = "adapter-test-project"
WEATHER = ToolDefinition(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture(scope="session")
def private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode()


def key_file(tmp_path: Path, private_key: str, token_uri: str) -> Path:
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(service_account(private_key, token_uri)))
    return path


def build(base_url: str, key: Path | None = None, **fields: Any) -> VertexGeminiProvider:
    """The adapter with credentials resolved from a key file, as a worker does."""
    sources = [{"type": "file", "files": {"service_account_json": str(key)}}] if key else []
    fields = {"project": PROJECT, "region": "us-central1", "timeout_seconds": 10.0, **fields}
    config = InstanceConfig(
        name="vertex-test", type="vertex", base_url=base_url, credentials=sources, **fields
    )
    adapter = build_provider(config, resolve_credentials(config, CredentialResolver({})))
    assert isinstance(adapter, VertexGeminiProvider)
    return adapter


@pytest.fixture
def key(tmp_path: Path, private_key: str, provider_emulator_url: str) -> Path:
    return key_file(tmp_path, private_key, provider_emulator_url + GOOGLE_TOKEN_PATH)


@pytest.fixture
def provider(
    provider_emulator_url: str, key: Path, emulator_control: EmulatorControl
) -> Iterator[VertexGeminiProvider]:
    adapter = build(provider_emulator_url, key)
    yield adapter
    adapter.close()


def user(text: str) -> Message:
    return Message("user", (TextPart(text),))


def ask(provider: VertexGeminiProvider, *messages: Message, **fields: Any) -> ChatResponse:
    return provider.complete(ChatRequest(model=MODEL, messages=messages, **fields))


def last(control: EmulatorControl) -> dict[str, Any]:
    record: dict[str, Any] = control.requests()[-1]
    return record


def exchanges(url: str) -> int:
    return len(httpx.get(url + EXCHANGES_PATH).json()["exchanges"])


# --- successful calls ------------------------------------------------------------------------


def test_plain_completion_reaches_the_model_path_with_a_token_from_the_exchange(
    provider: VertexGeminiProvider, emulator_control: EmulatorControl, provider_emulator_url: str
) -> None:
    before = exchanges(provider_emulator_url)
    response = ask(provider, user("Hello there"))
    assert response.message == Message("assistant", (TextPart("echo: Hello there"),))
    assert (response.finish_reason, response.model) == ("stop", MODEL)
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert response.provider_response_id
    record = last(emulator_control)
    assert record["protocol"] == "vertex"
    assert record["path"] == (
        f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/{MODEL}"
        ":generateContent"
    )
    assert exchanges(provider_emulator_url) == before + 1
    assert float(record["auth"]["token_exchanged_at"]) <= record["t"]


def test_system_prompt_travels_as_system_instruction(
    provider: VertexGeminiProvider, emulator_control: EmulatorControl
) -> None:
    ask(provider, Message("system", (TextPart("Be terse."),)), user("Hi"), max_tokens=33)
    body = last(emulator_control)["body"]
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert [c["role"] for c in body["contents"]] == ["user"]
    assert body["generationConfig"] == {"maxOutputTokens": 33}


def test_tool_call_round_trip(provider: VertexGeminiProvider) -> None:
    script = directive(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    question = user(f"Weather in Paris? {script}")
    first = ask(provider, question, tools=(WEATHER,), tool_choice="auto")
    assert first.finish_reason == "tool_calls"
    [call] = first.message.tool_calls
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})

    result = Message("tool", (TextPart("18C and sunny"),), tool_call_id=call.id)
    second = ask(provider, question, first.message, result, tools=(WEATHER,))
    assert (second.message.text, second.finish_reason) == ("tool results: 18C and sunny", "stop")


def test_usage_and_length_finish_come_from_the_response(provider: VertexGeminiProvider) -> None:
    script = directive(
        reply="x", finish_reason="length", usage={"prompt_tokens": 11, "completion_tokens": 7}
    )
    response = ask(provider, user(script))
    assert (response.usage, response.finish_reason) == (Usage(11, 7), "length")


def test_the_token_is_exchanged_once_for_many_concurrent_calls(
    provider: VertexGeminiProvider, provider_emulator_url: str
) -> None:
    before = exchanges(provider_emulator_url)
    threads = [threading.Thread(target=ask, args=(provider, user("hi"))) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ask(provider, user("again"))
    assert exchanges(provider_emulator_url) == before + 1


def test_an_expired_token_is_exchanged_again(
    provider: VertexGeminiProvider, provider_emulator_url: str
) -> None:
    ask(provider, user("hi"))
    before = exchanges(provider_emulator_url)
    credentials = provider._tokens._credentials
    assert credentials is not None
    credentials.expiry = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    assert ask(provider, user("hi")).message.text == "echo: hi"
    assert exchanges(provider_emulator_url) == before + 1


def test_ambient_credentials_use_googles_default_chain(
    provider_emulator_url: str,
    key: Path,
    emulator_control: EmulatorControl,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    config = InstanceConfig(
        name="vertex-ambient",
        type="vertex",
        base_url=provider_emulator_url,
        project="p",
        region="europe-west4",
    )
    assert google_default_available(config)
    adapter = VertexGeminiProvider(config, Credentials(source="workload_identity", ambient=True))
    assert ask(adapter, user("hi")).message.text == "echo: hi"
    assert "/locations/europe-west4/" in last(emulator_control)["path"]
    adapter.close()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key.parent / "missing.json"))
    assert not google_default_available(config)


def test_configuration_mistakes_fail_at_construction_without_quoting_the_key(
    provider_emulator_url: str,
) -> None:
    config = InstanceConfig(name="v", type="vertex", base_url=provider_emulator_url, region="r")
    with pytest.raises(ValueError, match="project and region"):
        VertexGeminiProvider(config, Credentials(source="test"))
    config = config.model_copy(update={"project": "p"})
    secret = '{"private_key": "-----BEGIN PRIVATE KEY-----SECRETSECRET"'
    with pytest.raises(ValueError) as caught:
        VertexGeminiProvider(config, Credentials("test", {"service_account_json": secret}))
    assert "SECRETSECRET" not in str(caught.value)


# --- errors ----------------------------------------------------------------------------------


def test_429_is_rate_limited_with_retry_after(provider: VertexGeminiProvider) -> None:
    with pytest.raises(ProviderRateLimited) as caught:
        ask(provider, user(directive(status=429, retry_after=2, error="Quota exceeded")))
    error = caught.value
    assert (error.retry_after, error.upstream_status, error.provider) == (2, 429, "vertex-test")
    assert "Quota exceeded" in error.message


@pytest.mark.parametrize("status", [500, 503, 504, 408, 409])
def test_server_errors_are_retryable_unavailable_and_tried_once(
    provider: VertexGeminiProvider, emulator_control: EmulatorControl, status: int
) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        ask(provider, user(directive(status=status)))
    assert (caught.value.upstream_status, caught.value.retryable) == (status, True)
    assert len(emulator_control.requests()) == 1  # no hidden retries


@pytest.mark.parametrize("status", [400, 404])
def test_client_errors_are_rejected_with_the_providers_message(
    provider: VertexGeminiProvider, status: int
) -> None:
    with pytest.raises(ProviderRejected) as caught:
        ask(provider, user(directive(status=status, error="Publisher model not found")))
    assert caught.value.message == "Publisher model not found"
    assert (caught.value.upstream_status, caught.value.retryable) == (status, False)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_are_the_operators_problem(provider: VertexGeminiProvider, status: int) -> None:
    with pytest.raises(ProviderError) as caught:
        ask(provider, user(directive(status=status)))
    assert type(caught.value) is ProviderError
    assert (caught.value.message, caught.value.retryable) == (AUTH_FAILED, False)


def test_a_refused_token_exchange_is_an_auth_failure(
    provider_emulator_url: str, tmp_path: Path, private_key: str, emulator_control: EmulatorControl
) -> None:
    bad_key = key_file(tmp_path, private_key, provider_emulator_url + "/no-such-token-endpoint")
    adapter = build(provider_emulator_url, bad_key)
    with pytest.raises(ProviderError) as caught:
        ask(adapter, user("hi"))
    adapter.close()
    assert type(caught.value) is ProviderError
    assert caught.value.message.startswith(f"{AUTH_FAILED}: the access-token exchange")
    assert emulator_control.requests() == []  # no generateContent without a token


def test_an_unreachable_token_endpoint_is_unavailable(
    provider_emulator_url: str, tmp_path: Path, private_key: str, closed_port_url: str
) -> None:
    adapter = build(
        provider_emulator_url, key_file(tmp_path, private_key, closed_port_url + "/token")
    )
    with pytest.raises(ProviderUnavailable, match="token endpoint"):
        ask(adapter, user("hi"))
    adapter.close()


def test_connection_refused_is_unavailable(closed_port_url: str, key: Path) -> None:
    adapter = build(closed_port_url, key)
    with pytest.raises(ProviderUnavailable, match="could not connect"):
        ask(adapter, user("hi"))
    adapter.close()


def test_timeout_is_unavailable(
    provider_emulator_url: str, key: Path, emulator_control: EmulatorControl
) -> None:
    adapter = build(provider_emulator_url, key, timeout_seconds=0.3)
    with pytest.raises(ProviderUnavailable, match="in time"):
        ask(adapter, user(directive(latency_ms=2000)))
    adapter.close()


def test_no_key_material_in_error_messages(
    provider: VertexGeminiProvider, private_key: str
) -> None:
    key_line = private_key.splitlines()[1]
    with pytest.raises(ProviderRejected) as caught:
        ask(provider, user(directive(status=400, error=f"cannot use key {key_line}")))
    assert key_line not in caught.value.message
    assert "[redacted]" in caught.value.message
