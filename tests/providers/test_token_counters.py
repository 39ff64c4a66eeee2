"""The adapters whose vendor counts input tokens (``Capabilities.token_count``): Anthropic's
``messages.count_tokens``, Bedrock's ``CountTokens`` and Vertex's ``countTokens``, against
the emulator over real HTTP. The count is the vendor's, of the same input a generation
would send; failures map as the vendor's generation calls' do."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from emulator import EmulatorControl, directive
from gateway.errors import ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from providers.base import Provider, TokenCounter
from providers.bedrock_count import input_tokens
from providers.registry import PROVIDER_KINDS
from providers.types import ChatRequest, Message, TextPart
from providers.vertex_count import total_tokens
from tests.support.vendors import VENDORS, WEATHER, VendorKit

COUNTING = [name for name, kind in PROVIDER_KINDS.items() if kind.capabilities.token_count]


def _anthropic_body(body: Mapping[str, Any]) -> None:
    assert body["system"] == "Be terse."
    assert body["tools"][0]["name"] == "get_weather"
    assert "max_tokens" not in body


def _bedrock_body(body: Mapping[str, Any]) -> None:
    # CountTokensRequest: the Converse input under input.converse, no inference options.
    converse = body["input"]["converse"]
    assert set(converse) == {"messages", "system", "toolConfig"}
    assert converse["system"] == [{"text": "Be terse."}]
    assert converse["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"


def _vertex_body(body: Mapping[str, Any]) -> None:
    # CountTokensRequest: generateContent's contents, systemInstruction and tools only.
    assert set(body) == {"contents", "systemInstruction", "tools"}
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"


def _vertex_claude_body(body: Mapping[str, Any]) -> None:
    # Anthropic's count request in Vertex's envelope: the model stays in the body.
    _anthropic_body(body)
    assert body["anthropic_version"] == "vertex-2023-10-16"
    assert body["model"].startswith("claude-")


# Per counting vendor: the path its count is posted to, and what its body must hold.
WIRE: dict[str, tuple[str, Callable[[Mapping[str, Any]], None]]] = {
    "anthropic": ("/v1/messages/count_tokens", _anthropic_body),
    "bedrock": ("/count-tokens", _bedrock_body),
    "vertex": (":countTokens", _vertex_body),
    # Claude on a vertex instance (its models count the Anthropic way).
    "vertex_claude": ("/publishers/anthropic/models/count-tokens:rawPredict", _vertex_claude_body),
}


def test_the_counting_types_are_anthropic_bedrock_and_vertex() -> None:
    assert sorted(COUNTING) == sorted(set(WIRE) - {"vertex_claude"})


@pytest.fixture(scope="module", params=[*COUNTING, "vertex_claude"])
def vendor(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def kit(
    vendor: str, provider_emulator_url: str, tmp_path_factory: pytest.TempPathFactory
) -> VendorKit:
    return VENDORS[vendor](provider_emulator_url, tmp_path_factory.mktemp(vendor))


@pytest.fixture
def provider(
    kit: VendorKit,
    emulator_control: EmulatorControl,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Provider]:
    if kit.isolate:
        kit.isolate(monkeypatch, tmp_path)
    adapter = kit.build()
    yield adapter
    adapter.close()


def count(provider: Provider, request: ChatRequest) -> int:
    """The adapter's count: every type flagged ``token_count`` is a ``TokenCounter``."""
    assert isinstance(provider, TokenCounter)
    return provider.count_tokens(request)


def request_of(kit: VendorKit, text: str, **fields: Any) -> ChatRequest:
    messages = (Message("system", (TextPart("Be terse."),)), Message("user", (TextPart(text),)))
    return ChatRequest(model=kit.model, messages=messages, **fields)


def test_the_count_is_the_vendors_for_the_input_a_generation_sends(
    provider: Provider, kit: VendorKit, vendor: str, emulator_control: EmulatorControl
) -> None:
    request = request_of(kit, "how many tokens is this prompt?", tools=(WEATHER,), max_tokens=9)
    counted = count(provider, request)
    generated = provider.complete(request)
    # The emulator counts a prompt as it counts a generation's input tokens.
    assert counted == generated.usage.prompt_tokens > 0
    record = emulator_control.requests()[0]
    suffix, check_body = WIRE[vendor]
    assert record["path"].endswith(suffix)
    assert record["status"] == 200
    check_body(record["body"])


@pytest.mark.parametrize(
    ("status", "expected"),
    [(429, ProviderRateLimited), (503, ProviderUnavailable), (400, ProviderRejected)],
)
def test_a_failed_count_maps_as_the_vendors_calls_do(
    provider: Provider,
    kit: VendorKit,
    emulator_control: EmulatorControl,
    status: int,
    expected: type[ProviderError],
) -> None:
    script = directive(status=status, retry_after=2, error="scripted count failure")
    with pytest.raises(ProviderError) as caught:
        count(provider, request_of(kit, script))
    error = caught.value
    assert type(error) is expected
    assert (error.provider, error.upstream_status) == (kit.instance, status)
    assert "scripted count failure" in error.message
    if expected is ProviderRateLimited:
        assert error.retry_after == 2
    assert len(emulator_control.requests()) == 1  # the SDK's own retries are off


def test_an_unreachable_vendor_is_unavailable(
    kit: VendorKit, closed_port_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if kit.isolate:
        kit.isolate(monkeypatch, tmp_path)
    adapter = kit.build(base_url=closed_port_url)
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            count(adapter, request_of(kit, "hello"))
        assert caught.value.provider == kit.instance
    finally:
        adapter.close()


@pytest.mark.parametrize(
    ("read", "body"),
    [
        (input_tokens, {}),
        (input_tokens, {"inputTokens": "12"}),
        (input_tokens, {"inputTokens": -1}),
        (total_tokens, {"promptTokensDetails": []}),
        (total_tokens, {"totalTokens": True}),
    ],
)
def test_an_answer_without_a_count_is_a_malformed_reply(
    read: Callable[[Mapping[str, Any]], int], body: dict[str, Any]
) -> None:
    with pytest.raises(ProviderUnavailable, match="count"):
        read(body)
