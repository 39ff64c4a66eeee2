"""JSON mode by a forced tool: the call's input comes back as the message's JSON text, with
finish reason stop, whether the reply was read whole or streamed."""

from __future__ import annotations

from collections.abc import Generator

from providers.output_tool import OUTPUT_TOOL, as_json_text, stream_as_json_text
from providers.streaming import StreamAssembler, StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from providers.types import ChatResponse, Message, TextPart, ToolCall, Usage

ANSWER = '{"city":"Oslo"}'


def reply(*calls: ToolCall, finish: str = "tool_calls") -> ChatResponse:
    return ChatResponse(
        message=Message("assistant", tool_calls=calls),
        finish_reason=finish,  # type: ignore[arg-type]
        usage=Usage(3, 4),
        model="m",
    )


def test_the_forced_call_becomes_the_json_content() -> None:
    converted = as_json_text(reply(ToolCall("t1", OUTPUT_TOOL.name, ANSWER)))
    assert converted.message == Message("assistant", (TextPart(ANSWER),))
    assert (converted.finish_reason, converted.usage) == ("stop", Usage(3, 4))


def test_a_reply_cut_short_before_the_call_is_left_as_it_is() -> None:
    cut = reply(finish="length")
    assert as_json_text(cut) is cut


def test_a_call_cut_short_keeps_its_length_finish() -> None:
    converted = as_json_text(reply(ToolCall("t1", OUTPUT_TOOL.name, '{"ci'), finish="length"))
    assert (converted.message.text, converted.finish_reason) == ('{"ci', "length")


def events(closed: list[bool]) -> Generator[StreamEvent, None, None]:
    try:
        yield ToolCallDelta(0, "t1", OUTPUT_TOOL.name)
        yield ToolCallDelta(0, arguments='{"city"')
        yield ToolCallDelta(0, arguments=':"Oslo"}')
        yield StreamEnd("tool_calls", Usage(3, 4))
    finally:
        closed.append(True)


def test_the_streamed_call_arrives_as_text_deltas_and_assembles_like_complete() -> None:
    closed: list[bool] = []
    converted = list(stream_as_json_text(events(closed)))
    assert converted == [
        TextDelta('{"city"'),
        TextDelta(':"Oslo"}'),
        StreamEnd("stop", Usage(3, 4)),
    ]
    assembler = StreamAssembler("m")
    for event in converted:
        assembler.add(event)
    streamed = assembler.response()
    assert streamed.message == as_json_text(reply(ToolCall("t1", OUTPUT_TOOL.name, ANSWER))).message
    assert closed == [True]


def test_closing_the_stream_early_closes_the_vendors() -> None:
    closed: list[bool] = []
    converted = stream_as_json_text(events(closed))
    next(converted)
    converted.close()
    assert closed == [True]
