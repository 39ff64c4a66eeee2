"""``response_format: json_object`` emulated by forcing a tool, for APIs without a JSON mode
(Anthropic, Bedrock Converse).

The request offers one tool, :data:`OUTPUT_TOOL`, whose input is any JSON object, and
forces the model to call it (a forced call is always a JSON object: the vendor parses the
input before it answers). The reply's call to it then becomes the message's text, so the
caller sees what OpenAI's JSON mode answers: the JSON as the content, no tool call, finish
reason ``stop``, in ``complete`` (:func:`as_json_text`) and ``stream``
(:func:`stream_as_json_text`) alike. A forced call comes without prose (the vendors prefill
the turn with the call), so text beside it is dropped rather than glued to the JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator

from gateway.errors import CapabilityMissing
from providers.streaming import StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from providers.types import ChatRequest, ChatResponse, Message, TextPart, ToolDefinition

OUTPUT_TOOL = ToolDefinition(
    name="json_output",
    description="Give your whole answer as this tool's input: one JSON object.",
    parameters={"type": "object"},
)


def output_tool(req: ChatRequest, vendor: str) -> ToolDefinition | None:
    """The tool to force for ``req``'s JSON mode, or None when it asks for none.
    ``CapabilityMissing`` beside tools of the caller's own: forcing one tool would keep the
    model from calling theirs."""
    if not forces_output_tool(req):
        return None
    if req.tools:
        raise CapabilityMissing(
            f"{vendor} has no JSON mode: the gateway emulates response_format json_object "
            "by forcing a tool, which cannot be combined with tools",
            param="response_format",
        )
    return OUTPUT_TOOL


def forces_output_tool(req: ChatRequest) -> bool:
    """Whether ``req``'s reply comes back as a call to the output tool."""
    return req.response_format is not None and req.response_format.type == "json_object"


def as_json_text(response: ChatResponse) -> ChatResponse:
    """``response`` with its call to the output tool as the message's text."""
    call = next((c for c in response.message.tool_calls if c.name == OUTPUT_TOOL.name), None)
    if call is None:  # cut short before the call (max_tokens): nothing to present
        return response
    finish = "stop" if response.finish_reason == "tool_calls" else response.finish_reason
    message = Message(role="assistant", content=(TextPart(call.arguments),))
    return dataclasses.replace(response, message=message, finish_reason=finish)


def stream_as_json_text(
    events: Generator[StreamEvent, None, None],
) -> Generator[StreamEvent, None, None]:
    """``events`` with the output tool's argument fragments as text deltas."""
    forced: set[int] = set()
    try:
        for event in events:
            match event:
                case TextDelta():
                    continue
                case ToolCallDelta(index=index, name=name, arguments=arguments) if (
                    name == OUTPUT_TOOL.name or index in forced
                ):
                    forced.add(index)
                    if arguments:
                        yield TextDelta(arguments)
                case StreamEnd(finish_reason="tool_calls") if forced:
                    yield dataclasses.replace(event, finish_reason="stop")
                case _:
                    yield event
    finally:
        events.close()  # a caller that gives up early releases the connection
