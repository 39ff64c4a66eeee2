"""The streaming half of the adapter contract (``providers.base.Provider.stream``): checked
once per entry of ``tests.support.vendors.VENDORS``, against the emulator over real HTTP,
each through the vendor's own streaming API. Behaviour is scripted with in-text directives.

What a stream assembles to equals what ``complete`` returns. Every failure, before or in
the middle of a stream, is a ``ProviderError``; a stream that stops before its end is a
retryable ``ProviderUnavailable``, never a shorter answer, and never a hang.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from emulator import EmulatorControl, directive
from gateway.errors import ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from providers.base import Provider
from providers.streaming import StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from providers.types import ChatRequest, ChatResponse, Usage
from providers.upstream_errors import MALFORMED_REPLY, STREAM_CUT_SHORT
from tests.support.vendors import (
    WEATHER,
    VendorKit,
    ask,
    ask_streamed,
    assembled,
    user,
    weather_round_trip,
)

TWO_CALLS = [
    {"name": "get_weather", "arguments": {"city": "Paris", "units": "metric"}},
    {"name": "get_weather", "arguments": {"city": "Reykjavík", "note": 'say "hi"\n'}},
]
LONG_REPLY = "one two three four five six seven eight nine ten eleven twelve"


def request(kit: VendorKit, text: str, **fields: Any) -> ChatRequest:
    return ChatRequest(model=kit.model, messages=(user(text),), **fields)


def stream(provider: Provider, kit: VendorKit, text: str, **fields: Any) -> list[StreamEvent]:
    return list(provider.stream(request(kit, text, **fields)))


def stream_until_failure(
    provider: Provider, kit: VendorKit, text: str
) -> tuple[list[StreamEvent], ProviderError]:
    """The events that arrived before the stream failed, and its error."""
    events: list[StreamEvent] = []
    with pytest.raises(ProviderError) as caught:
        for event in provider.stream(request(kit, text)):
            events.append(event)
    return events, caught.value


def settled(control: EmulatorControl) -> int:
    """The emulator's in-flight count once earlier tests' abandoned streams have ended."""
    deadline = time.monotonic() + 10
    while (in_flight := control.stats()["in_flight"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return in_flight


def same_answer(streamed: ChatResponse, completed: ChatResponse) -> None:
    """Equal but for what differs between any two calls: response and tool-call ids."""
    assert streamed.message.text == completed.message.text
    assert (streamed.finish_reason, streamed.usage, streamed.model) == (
        completed.finish_reason,
        completed.usage,
        completed.model,
    )
    calls = [(c.name, json.loads(c.arguments)) for c in streamed.message.tool_calls]
    assert calls == [(c.name, json.loads(c.arguments)) for c in completed.message.tool_calls]
    ids = [c.id for c in streamed.message.tool_calls]
    assert all(ids) and len(set(ids)) == len(ids)
    assert bool(streamed.provider_response_id) is bool(completed.provider_response_id)


# --- what a stream carries -------------------------------------------------------------------


def test_a_streamed_reply_arrives_in_pieces_and_assembles_to_what_complete_returns(
    provider: Provider, kit: VendorKit
) -> None:
    events = stream(provider, kit, "Hello there, streaming world")
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(texts) > 1
    assert "".join(texts) == "echo: Hello there, streaming world"
    streamed = assembled(events, kit.model)
    same_answer(streamed, ask(provider, kit.model, user("Hello there, streaming world")))
    assert streamed.usage.prompt_tokens > 0 and streamed.usage.completion_tokens > 0
    assert bool(streamed.provider_response_id) is kit.gives_response_id


def test_streamed_tool_calls_assemble_to_what_complete_returns(
    provider: Provider, kit: VendorKit
) -> None:
    text = "Weather twice " + directive(tool_calls=TWO_CALLS)
    events = stream(provider, kit, text, tools=(WEATHER,))
    fragments = [e for e in events if isinstance(e, ToolCallDelta)]
    assert {f.index for f in fragments} == {0, 1}
    if kit.streams_argument_fragments:
        for index in (0, 1):
            assert len([f for f in fragments if f.index == index and f.arguments]) > 1
    streamed = assembled(events, kit.model)
    assert streamed.finish_reason == "tool_calls"
    same_answer(streamed, ask(provider, kit.model, user(text), tools=(WEATHER,)))


def test_a_tool_call_round_trip_streamed(provider: Provider, kit: VendorKit) -> None:
    # The assembled assistant message goes back into the next request as it is.
    weather_round_trip(provider, kit.model, send=ask_streamed)


def test_streamed_usage_is_the_providers_token_counts(provider: Provider, kit: VendorKit) -> None:
    script = directive(usage={"prompt_tokens": 11, "completion_tokens": 7})
    events = stream(provider, kit, f"count {script}")
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.usage == Usage(11, 7)


@pytest.mark.parametrize("finish", ["length", "stop"])
def test_streamed_finish_reasons_are_those_of_complete(
    provider: Provider, kit: VendorKit, finish: str
) -> None:
    text = directive(reply="cut here", finish_reason=finish)
    streamed = assembled(stream(provider, kit, text), kit.model)
    assert (streamed.message.text, streamed.finish_reason) == ("cut here", finish)
    same_answer(streamed, ask(provider, kit.model, user(text)))


def test_the_provider_is_asked_to_stream_once(
    provider: Provider, kit: VendorKit, emulator_control: EmulatorControl
) -> None:
    stream(provider, kit, "hi")
    [record] = emulator_control.requests()
    assert (record["stream"], record["status"]) == (True, 200)


def test_the_first_token_arrives_while_the_provider_is_still_sending(
    provider: Provider, kit: VendorKit, emulator_control: EmulatorControl
) -> None:
    # 12 words, 150 ms apart: the emulator sends for about 2 s. A client that buffered
    # the body would hand over its first token only once the emulator had finished.
    assert settled(emulator_control) == 0
    events = provider.stream(request(kit, directive(reply=LONG_REPLY, token_interval_ms=150)))
    first = next(e for e in events if isinstance(e, TextDelta))
    in_flight_at_first_token = emulator_control.stats()["in_flight"]
    rest = list(events)
    assert first.text == "one "
    assert in_flight_at_first_token == 1
    assert isinstance(rest[-1], StreamEnd)
    assert emulator_control.stats()["in_flight"] == 0


def test_stopping_early_closes_the_providers_stream(
    provider: Provider, kit: VendorKit, emulator_control: EmulatorControl
) -> None:
    assert settled(emulator_control) == 0
    # Sent in full, this reply would take the emulator 24 s: far past settled's 10 s.
    script = directive(reply="word " * 60, token_interval_ms=400)
    events = provider.stream(request(kit, script))
    next(e for e in events if isinstance(e, TextDelta))
    assert emulator_control.stats()["in_flight"] == 1
    events.close()
    assert settled(emulator_control) == 0


# --- failures before the stream --------------------------------------------------------------


def test_429_before_the_stream_is_rate_limited_with_retry_after_and_tried_once(
    provider: Provider, kit: VendorKit, emulator_control: EmulatorControl
) -> None:
    events, error = stream_until_failure(
        provider, kit, directive(status=429, retry_after=2, error="Quota exceeded")
    )
    assert events == []
    assert isinstance(error, ProviderRateLimited)
    assert (error.retry_after, error.upstream_status, error.provider) == (2, 429, kit.instance)
    assert "Quota exceeded" in error.message
    assert len(emulator_control.requests()) == 1


@pytest.mark.parametrize(
    ("status", "expected"), [(503, ProviderUnavailable), (400, ProviderRejected)]
)
def test_http_errors_before_the_stream_map_as_for_complete(
    provider: Provider, kit: VendorKit, status: int, expected: type[ProviderError]
) -> None:
    events, error = stream_until_failure(provider, kit, directive(status=status, error="nope"))
    assert events == []
    assert type(error) is expected
    assert (error.upstream_status, error.provider) == (status, kit.instance)
    assert "nope" in error.message


def test_connection_refused_is_unavailable(isolated: VendorKit, closed_port_url: str) -> None:
    adapter = isolated.build(closed_port_url)
    events, error = stream_until_failure(adapter, isolated, "hi")
    adapter.close()
    assert events == []
    assert type(error) is ProviderUnavailable
    assert error.message == "could not connect to the provider"


# --- failures in the middle of the stream ----------------------------------------------------


def test_a_mid_stream_error_event_is_retryable_unavailable_after_the_first_tokens(
    provider: Provider, kit: VendorKit, emulator_control: EmulatorControl
) -> None:
    script = directive(reply=LONG_REPLY, stream_fault="error", fault_after=5, error="Overloaded")
    events, error = stream_until_failure(provider, kit, script)
    assert any(isinstance(e, TextDelta) for e in events)
    assert not any(isinstance(e, StreamEnd) for e in events)
    assert type(error) is ProviderUnavailable
    assert (error.retryable, error.provider) == (True, kit.instance)
    assert error.message == "the provider failed mid-stream: Overloaded"
    assert error.__cause__ is None
    assert len(emulator_control.requests()) == 1


@pytest.mark.parametrize("fault_after", [0, 5])
def test_a_stream_cut_short_is_retryable_unavailable_never_a_shorter_answer(
    provider: Provider, kit: VendorKit, fault_after: int
) -> None:
    script = directive(reply=LONG_REPLY, stream_fault="cut", fault_after=fault_after)
    events, error = stream_until_failure(provider, kit, script)
    assert not any(isinstance(e, StreamEnd) for e in events)
    assert type(error) is ProviderUnavailable
    assert (error.message, error.retryable, error.provider) == (
        STREAM_CUT_SHORT,
        True,
        kit.instance,
    )


def test_a_malformed_chunk_is_a_retryable_malformed_reply(
    provider: Provider, kit: VendorKit
) -> None:
    script = directive(reply=LONG_REPLY, stream_fault="malformed", fault_after=5)
    events, error = stream_until_failure(provider, kit, script)
    assert not any(isinstance(e, StreamEnd) for e in events)
    assert type(error) is ProviderUnavailable
    assert error.message.startswith(f"{MALFORMED_REPLY}: ")
    assert error.provider == kit.instance
    assert "cut off" not in error.message  # the chunk itself is not repeated


MALFORMATIONS = ["invalid_json", "not_object", "truncated", "wrong_content_type", "missing_fields"]


@pytest.mark.parametrize("kind", MALFORMATIONS)
def test_a_malformed_successful_reply_to_a_stream_is_a_malformed_reply(
    provider: Provider, kit: VendorKit, kind: str
) -> None:
    # The emulator answers a stream request with a broken plain body (emulator.malformed).
    events, error = stream_until_failure(provider, kit, "Hello " + directive(malformed=kind))
    assert events == []
    assert type(error) is ProviderUnavailable
    assert error.message.startswith(f"{MALFORMED_REPLY}: ")
    for body_text in ("emulated malformed", "Service unavailable", "echo:", "Hello"):
        assert body_text not in error.message


def test_a_stalled_stream_times_out_as_unavailable(
    isolated: VendorKit, emulator_control: EmulatorControl
) -> None:
    adapter = isolated.build(timeout_seconds=0.5)
    script = directive(reply=LONG_REPLY, token_interval_ms=3000)
    events, error = stream_until_failure(adapter, isolated, script)
    adapter.close()
    assert not any(isinstance(e, StreamEnd) for e in events)
    assert type(error) is ProviderUnavailable
    assert error.message == "the provider did not answer in time"


@pytest.mark.parametrize("kit", ["openai", "anthropic", "watsonx", "vertex"], indirect=True)
def test_a_mid_stream_error_never_shows_the_credential(provider: Provider, kit: VendorKit) -> None:
    assert kit.secret is not None
    script = directive(reply=LONG_REPLY, stream_fault="error", error=f"key was {kit.secret}")
    _, error = stream_until_failure(provider, kit, script)
    assert kit.secret not in str(error) + json.dumps(error.to_dict())
    assert "[redacted]" in error.message
