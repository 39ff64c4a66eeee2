"""Claude on Vertex AI through the vertex adapter: the model's name picks Anthropic's
publisher path (``rawPredict`` / ``streamRawPredict``), Anthropic's body in Vertex's
envelope, and the request check follows the anthropic column of the parameter table. The
emulator serves it over real HTTP with a real token exchange. What every adapter does
(errors included) is checked for this path too, as the ``vertex_claude`` entry of
``tests.support.vendors.VENDORS`` in the contract tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import EmulatorControl, directive
from gateway.errors import CapabilityMissing, ProviderUnavailable
from providers.base import Provider
from providers.config import InstanceConfig
from providers.registry import check_request
from providers.streaming import StreamEnd, TextDelta
from providers.types import ChatRequest, Message, ResponseFormat, TextPart
from providers.vertex_claude import claude_body
from tests.support.vendors import WEATHER, VendorKit, vertex_claude

MODEL = "claude-sonnet-4-5@20250929"
PREFIX = "/v1/projects/adapter-test-project/locations/us-central1/publishers"


@pytest.fixture(scope="module")
def kit(provider_emulator_url: str, tmp_path_factory: pytest.TempPathFactory) -> VendorKit:
    return vertex_claude(provider_emulator_url, tmp_path_factory.mktemp("vertex-claude"))


@pytest.fixture
def provider(kit: VendorKit, emulator_control: EmulatorControl) -> Iterator[Provider]:
    adapter = kit.build()
    yield adapter
    adapter.close()


def user(text: str) -> Message:
    return Message("user", (TextPart(text),))


def request(*messages: Message, model: str = MODEL, **fields: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=messages or (user("Hello there"),), **fields)


def last(control: EmulatorControl) -> dict[str, Any]:
    record: dict[str, Any] = control.requests()[-1]
    return record


# --- the wire --------------------------------------------------------------------------------


def test_a_claude_model_goes_to_raw_predict_with_anthropics_body_in_vertexs_envelope(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    system = Message("system", (TextPart("Be terse."),))
    response = provider.complete(request(system, user("Hello there")))
    assert (response.message.text, response.model) == ("echo: Hello there", MODEL)
    assert response.provider_response_id and response.usage.prompt_tokens > 0
    record = last(emulator_control)
    assert record["protocol"] == "vertex_anthropic"
    assert record["path"] == f"{PREFIX}/anthropic/models/{MODEL}:rawPredict"
    assert record["body"] == {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}],
        "system": "Be terse.",
    }
    assert "token_exchanged_at" in record["auth"]  # the Gemini path's Google token


def test_a_claude_stream_reads_stream_raw_predict_events(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    events = list(provider.stream(request(max_tokens=50)))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "echo: Hello there"
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "stop" and end.model == MODEL
    record = last(emulator_control)
    assert record["path"] == f"{PREFIX}/anthropic/models/{MODEL}:streamRawPredict"
    assert (record["body"]["stream"], record["body"]["max_tokens"]) == (True, 50)
    assert "model" not in record["body"]


def test_other_models_stay_on_gemini(provider: Provider, emulator_control: EmulatorControl) -> None:
    provider.complete(request(model="gemini-2.5-flash"))
    record = last(emulator_control)
    assert (record["protocol"], record["path"]) == (
        "vertex",
        f"{PREFIX}/google/models/gemini-2.5-flash:generateContent",
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_json_mode_is_anthropics_forced_tool_answered_as_text(
    provider: Provider, emulator_control: EmulatorControl, streamed: bool
) -> None:
    req = request(user("a JSON object please"), response_format=ResponseFormat("json_object"))
    if streamed:
        text = "".join(e.text for e in provider.stream(req) if isinstance(e, TextDelta))
    else:
        text = provider.complete(req).message.text
    assert isinstance(json.loads(text), dict)
    assert last(emulator_control)["body"]["tool_choice"]["type"] == "tool"


def test_default_max_tokens_is_an_instance_option(
    kit: VendorKit, emulator_control: EmulatorControl
) -> None:
    adapter = kit.build(options={"default_max_tokens": "77"})
    adapter.complete(request())
    adapter.close()
    assert last(emulator_control)["body"]["max_tokens"] == 77
    with pytest.raises(ValueError, match="default_max_tokens"):
        kit.build(options={"default_max_tokens": "0"})


# --- errors ----------------------------------------------------------------------------------


def test_an_error_event_mid_stream_is_a_retryable_stream_failure(
    provider: Provider, kit: VendorKit
) -> None:
    fault = directive(stream_fault="error", error="Overloaded", reply="a b c d e f")
    with pytest.raises(ProviderUnavailable) as caught:
        list(provider.stream(request(user(fault))))
    assert "Overloaded" in caught.value.message and caught.value.provider == kit.instance


def test_an_anthropic_error_body_is_mapped_with_its_message(provider: Provider) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        provider.complete(request(user(directive(status=529, error="Overloaded"))))
    assert (caught.value.upstream_status, caught.value.message) == (
        529,
        "the provider failed: Overloaded",
    )


# --- the request check -----------------------------------------------------------------------


def test_the_body_drops_model_and_adds_vertexs_version() -> None:
    body = claude_body(request(), 10, stream=True)
    assert "model" not in body
    assert (body["anthropic_version"], body["stream"], body["max_tokens"]) == (
        "vertex-2023-10-16",
        True,
        10,
    )


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"seed": 7}, "seed"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
        ({"temperature": 0.2}, "temperature"),
        ({"top_p": 0.9}, "top_p"),
    ],
)
def test_claude_refuses_what_gemini_takes_and_anthropic_lacks(
    fields: dict[str, Any], param: str
) -> None:
    check_request(INSTANCE, request(model="gemini-2.5-flash", **fields))  # Gemini takes it
    with pytest.raises(CapabilityMissing) as caught:
        check_request(INSTANCE, request(**fields))
    assert caught.value.param == param
    assert f"{MODEL} as anthropic) cannot honour {param}" in caught.value.message


@pytest.mark.parametrize(
    "fields",
    [{"parallel_tool_calls": False, "tools": (WEATHER,)}, {"service_tier": "auto"}],
    ids=["parallel_tool_calls", "service_tier"],
)
def test_claude_takes_what_anthropic_takes_and_gemini_lacks(fields: dict[str, Any]) -> None:
    with pytest.raises(CapabilityMissing):
        check_request(INSTANCE, request(model="gemini-2.5-flash", **fields))
    check_request(INSTANCE, request(**fields))


INSTANCE = InstanceConfig(
    name="vertex-eu",
    type="vertex",
    project="p",
    region="europe-west1",
    models=["gemini-2.5-flash"],
    model_map={"house-model": MODEL},
)


def test_the_instance_check_dispatches_on_the_upstream_model_name() -> None:
    # "house-model" maps to a Claude model: the anthropic column applies.
    with pytest.raises(CapabilityMissing) as caught:
        check_request(INSTANCE, request(model="house-model", seed=1))
    assert caught.value.message.startswith(
        f"instance 'vertex-eu' (vertex, {MODEL} as anthropic) cannot honour seed"
    )
    check_request(INSTANCE, request(model="gemini-2.5-flash", seed=1))


def test_what_neither_column_takes_is_refused_by_the_table_first() -> None:
    with pytest.raises(CapabilityMissing) as caught:
        check_request(INSTANCE, request(model="house-model", logprobs=True))
    assert caught.value.param == "logprobs"
