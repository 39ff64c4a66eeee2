"""The Ollama adapter (httpx, the documented HTTP API) and model discovery against the
emulator's ``/api/chat`` and ``/api/tags`` over real HTTP: Ollama's wire format and errors.
What every adapter does is checked in ``test_adapter_contract.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive
from gateway.credentials import CredentialResolver
from gateway.errors import ProviderRejected
from providers.config import InstanceConfig
from providers.ollama_chat import OllamaChatProvider
from providers.ollama_format import OllamaDiscoveryFailed, list_ollama_models
from providers.registry import build_provider, resolve_credentials
from providers.streaming import TextDelta
from providers.types import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    TextPart,
    ToolDefinition,
)

PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6"
    "kgAAAABJRU5ErkJggg=="
)
WEATHER = ToolDefinition(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def instance(url: str, **fields: Any) -> InstanceConfig:
    return InstanceConfig(
        name="ollama-test", type="ollama", base_url=url, **{"timeout_seconds": 10.0, **fields}
    )


def build(config: InstanceConfig) -> OllamaChatProvider:
    """As a worker does: credentials resolved (none needed), then the registry's adapter."""
    adapter = build_provider(config, resolve_credentials(config, CredentialResolver({})))
    assert isinstance(adapter, OllamaChatProvider)
    return adapter


@pytest.fixture
def ollama(
    provider_emulator_url: str, emulator_control: EmulatorControl
) -> Iterator[OllamaChatProvider]:
    adapter = build(instance(provider_emulator_url))
    yield adapter
    adapter.close()


def user(text: str, *images: str) -> Message:
    return Message("user", (TextPart(text), *(ImagePart(url) for url in images)))


def ask(provider: OllamaChatProvider, *messages: Message, **fields: Any) -> ChatResponse:
    return provider.complete(ChatRequest(model="llama3.2", messages=messages, **fields))


def last(control: EmulatorControl) -> dict[str, Any]:
    return control.requests()[-1]


# --- successful calls ------------------------------------------------------------------------


def test_plain_completion_reaches_api_chat_unstreamed(
    ollama: OllamaChatProvider, emulator_control: EmulatorControl
) -> None:
    assert ask(ollama, user("Hello there")).message.text == "echo: Hello there"
    record = last(emulator_control)
    assert (record["protocol"], record["path"], record["status"]) == ("ollama", "/api/chat", 200)
    assert record["body"]["stream"] is False


def test_a_stream_is_the_same_request_with_stream_true_answered_in_ndjson_lines(
    ollama: OllamaChatProvider, emulator_control: EmulatorControl
) -> None:
    request = ChatRequest(model="llama3.2", messages=(user("Hello there"),), max_tokens=9)
    events = list(ollama.stream(request))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["echo: ", "Hello ", "there"]
    record = last(emulator_control)
    assert (record["path"], record["body"]["stream"]) == ("/api/chat", True)
    assert record["body"]["options"] == {"num_predict": 9}


def test_system_prompt_travels_as_the_first_message(
    ollama: OllamaChatProvider, emulator_control: EmulatorControl
) -> None:
    ask(ollama, Message("system", (TextPart("Be terse."),)), user("Hi"))
    messages = last(emulator_control)["body"]["messages"]
    assert messages[0] == {"role": "system", "content": "Be terse."}


def test_tool_call_round_trip_with_made_up_ids_and_tool_name(
    ollama: OllamaChatProvider, emulator_control: EmulatorControl
) -> None:
    script = directive(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}] * 2)
    question = user(f"Weather in Paris? {script}")

    first = ask(ollama, question, tools=(WEATHER,), tool_choice="auto")

    assert first.finish_reason == "tool_calls"
    calls = first.message.tool_calls
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"})
    ] * 2
    assert all(c.id.startswith("call_") for c in calls) and calls[0].id != calls[1].id
    assert last(emulator_control)["body"]["tools"][0]["function"]["name"] == "get_weather"

    results = [
        Message("tool", (TextPart(f"{n}8C"),), tool_call_id=c.id) for n, c in enumerate(calls)
    ]
    second = ask(ollama, question, first.message, *results, tools=(WEATHER,))

    assert second.message.text == "tool results: 08C; 18C"
    assert second.finish_reason == "stop"
    sent = last(emulator_control)["body"]["messages"]
    assert sent[1]["tool_calls"][0] == {
        "function": {"name": "get_weather", "arguments": {"city": "Paris"}}
    }
    assert sent[2] == {"role": "tool", "content": "08C", "tool_name": "get_weather"}


def test_sampling_parameters_are_sent_as_options(
    ollama: OllamaChatProvider, emulator_control: EmulatorControl
) -> None:
    ask(ollama, user("x"), max_tokens=33, temperature=0.2, top_p=0.5, stop=("END",))
    options = last(emulator_control)["body"]["options"]
    assert options == {"num_predict": 33, "temperature": 0.2, "top_p": 0.5, "stop": ["END"]}


def test_images_are_sent_as_bare_base64(
    ollama: OllamaChatProvider, emulator_control: EmulatorControl
) -> None:
    response = ask(ollama, user("what is this?", f"data:image/png;base64,{PNG_B64}"))
    assert response.message.text == "echo: what is this?"
    assert last(emulator_control)["body"]["messages"][0]["images"] == [PNG_B64]


def test_nested_tool_schemas_reach_the_server_intact(
    ollama: OllamaChatProvider, emulator_control: EmulatorControl
) -> None:
    # The ollama package's request models would drop "properties" of nested objects,
    # "pattern", "minimum" and "additionalProperties"; the adapter must not.
    schema = {
        "type": "object",
        "properties": {
            "address": {
                "type": "object",
                "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
            },
            "count": {"type": "integer", "minimum": 1},
        },
        "additionalProperties": False,
    }
    ask(ollama, user("ship it"), tools=(ToolDefinition("ship", "Ship", schema),))
    assert last(emulator_control)["body"]["tools"][0]["function"]["parameters"] == schema


# --- errors ----------------------------------------------------------------------------------


def test_unknown_model_404_is_rejected_with_ollamas_message(ollama: OllamaChatProvider) -> None:
    missing = 'model "llama9" not found, try pulling it first'
    with pytest.raises(ProviderRejected) as caught:
        ask(ollama, user(directive(status=404, error=missing)))
    error = caught.value
    assert error.message == missing
    assert (error.upstream_status, error.retryable, error.status_code) == (404, False, 400)


# --- model discovery -------------------------------------------------------------------------


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def test_discovery_lists_the_servers_models(
    http: httpx.Client, provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    assert list_ollama_models(http, provider_emulator_url, timeout=5) == ["llama3.2"]


def test_discovery_sees_a_newly_pulled_model_and_reset_restores_the_default(
    http: httpx.Client, provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    emulator_control.set_ollama_models(["llama3.2:latest", "qwen2.5:7b", "qwen2.5:7b"])
    assert emulator_control.ollama_models() == ["llama3.2:latest", "qwen2.5:7b", "qwen2.5:7b"]
    assert list_ollama_models(http, provider_emulator_url + "/", timeout=5) == [
        "llama3.2:latest",
        "qwen2.5:7b",
    ]
    emulator_control.reset()
    assert list_ollama_models(http, provider_emulator_url, timeout=5) == ["llama3.2"]


def test_discovery_of_an_unreachable_server_fails_clearly(
    http: httpx.Client, closed_port_url: str
) -> None:
    with pytest.raises(
        OllamaDiscoveryFailed, match=f"cannot list Ollama models at {closed_port_url}"
    ):
        list_ollama_models(http, closed_port_url, timeout=2)


def test_discovery_of_something_that_is_not_ollama_fails_clearly(
    http: httpx.Client,
    provider_emulator_url: str,
) -> None:
    with pytest.raises(OllamaDiscoveryFailed, match="HTTP 404"):
        list_ollama_models(http, provider_emulator_url + "/v1", timeout=2)
