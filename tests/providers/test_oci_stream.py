"""OCI GENERIC stream events to neutral stream events: the ways OCI's models stream tool
calls (which the emulator shows only one of), and the end of a stream."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import ProviderUnavailable
from providers.oci_stream import EventReader
from providers.streaming import StreamAssembler, StreamEnd, StreamEvent
from providers.types import ToolCall, Usage
from providers.upstream_errors import STREAM_CUT_SHORT


def calls(*fragments: dict[str, Any]) -> dict[str, Any]:
    toolcalls = [{"type": "FUNCTION", **f} for f in fragments]
    return {"index": 0, "message": {"role": "ASSISTANT", "toolCalls": toolcalls}}


def read(*events: dict[str, Any], request_id: str = "REQ1") -> tuple[ToolCall, ...]:
    reader = EventReader(request_id)
    out: list[StreamEvent] = []
    for event in events:
        out += reader.feed(event)
    out += reader.feed({"index": 0, "finishReason": "tool_calls"})
    out += reader.end()
    assembler = StreamAssembler("m")
    for event in out:
        assembler.add(event)
    return assembler.response().message.tool_calls


def test_parallel_calls_each_with_its_own_id_at_position_0_stay_apart() -> None:
    # xAI's pattern: every fragment carries its call's id.
    assert read(
        calls({"id": "a", "name": "f", "arguments": '{"x":'}),
        calls({"id": "b", "name": "g", "arguments": "{}"}),
        calls({"id": "a", "arguments": "1}"}),
    ) == (ToolCall("a", "f", '{"x":1}'), ToolCall("b", "g", "{}"))


def test_fragments_without_ids_continue_the_open_call() -> None:
    # OpenAI's and Meta's models on OCI: id and name once, then bare argument pieces.
    assert read(
        calls({"id": "a", "name": "f", "arguments": ""}),
        calls({"arguments": '{"x"'}),
        calls({"arguments": ":1}"}),
        calls({"id": "b", "name": "g", "arguments": ""}),
        calls({"arguments": "{}"}),
    ) == (ToolCall("a", "f", '{"x":1}'), ToolCall("b", "g", "{}"))


def test_calls_without_any_id_get_the_same_made_up_ids_as_complete_would_seed() -> None:
    # Gemini's models on OCI send no ids: another function's name starts another call.
    first = read(calls({"name": "f", "arguments": "{}"}), calls({"name": "g", "arguments": "{}"}))
    again = read(calls({"name": "f", "arguments": "{}"}), calls({"name": "g", "arguments": "{}"}))
    assert [c.name for c in first] == ["f", "g"]
    assert all(c.id.startswith("call_") for c in first)
    assert first == again  # seeded by the exchange: parsing the same stream twice agrees
    other = read(calls({"name": "f", "arguments": "{}"}), request_id="REQ2")
    assert other[0].id != first[0].id


def test_usage_comes_last_and_a_stream_without_finish_reason_was_cut_short() -> None:
    reader = EventReader("R")
    reader.feed(
        {"index": 0, "message": {"role": "ASSISTANT", "content": [{"type": "TEXT", "text": "hi"}]}}
    )
    reader.feed({"index": 0, "finishReason": "STOP"})
    reader.feed({"usage": {"promptTokens": 3, "completionTokens": 1, "totalTokens": 4}})
    assert reader.end() == [StreamEnd("stop", Usage(3, 1), provider_response_id="R")]

    cut = EventReader("R")
    cut.feed(
        {"index": 0, "message": {"role": "ASSISTANT", "content": [{"type": "TEXT", "text": "h"}]}}
    )
    with pytest.raises(ProviderUnavailable, match=f"^{STREAM_CUT_SHORT}$"):
        cut.end()
