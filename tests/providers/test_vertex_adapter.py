"""The Vertex AI Gemini adapter against the emulator over real HTTP, with a real
service-account token exchange (google-auth signs a JWT; the emulator issues the token):
the model path, Gemini's body, the token exchange and its failures. What every adapter does
is checked in ``test_adapter_contract.py``."""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl
from emulator.local_env import GOOGLE_TOKEN_PATH, service_account
from emulator.protocols.google_oauth import EXCHANGES_PATH
from gateway.credentials import CredentialResolver, Credentials
from gateway.errors import ProviderError, ProviderUnavailable
from providers.config import InstanceConfig
from providers.registry import build_provider, resolve_credentials
from providers.streaming import TextDelta
from providers.types import ChatRequest, ChatResponse, Message, TextPart, ToolDefinition
from providers.upstream_errors import AUTH_FAILED
from providers.vertex_auth import google_default_available
from providers.vertex_gemini import VertexGeminiProvider
from tests.support.vendors import generate_private_key

MODEL = "gemini-2.5-flash"
PROJECT = "adapter-test-project"
WEATHER = ToolDefinition(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture(scope="session")
def private_key() -> str:
    return generate_private_key()


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
    assert ask(provider, user("Hello there")).message.text == "echo: Hello there"
    record = last(emulator_control)
    assert record["protocol"] == "vertex"
    assert record["path"] == (
        f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/{MODEL}"
        ":generateContent"
    )
    assert exchanges(provider_emulator_url) == before + 1
    assert float(record["auth"]["token_exchanged_at"]) <= record["t"]


def test_a_stream_asks_stream_generate_content_for_server_sent_events(
    provider: VertexGeminiProvider, emulator_control: EmulatorControl
) -> None:
    events = list(provider.stream(ChatRequest(model=MODEL, messages=(user("Hello there"),))))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "echo: Hello there"
    record = last(emulator_control)
    assert record["path"] == (
        f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/{MODEL}"
        ":streamGenerateContent"
    )
    assert (record["query"], record["stream"]) == ({"alt": "sse"}, True)


def test_system_prompt_travels_as_system_instruction(
    provider: VertexGeminiProvider, emulator_control: EmulatorControl
) -> None:
    ask(provider, Message("system", (TextPart("Be terse."),)), user("Hi"), max_tokens=33)
    body = last(emulator_control)["body"]
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert [c["role"] for c in body["contents"]] == ["user"]
    assert body["generationConfig"] == {"maxOutputTokens": 33}


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
    with pytest.raises(ValueError, match=r"^v: ") as caught:
        VertexGeminiProvider(config, Credentials("test", {"service_account_json": secret}))
    assert "SECRETSECRET" not in str(caught.value)


# --- errors ----------------------------------------------------------------------------------


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
