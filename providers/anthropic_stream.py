"""Anthropic Messages stream events to neutral stream events.

Pure: an :class:`EventReader` is fed the decoded events (``{"type": ...}`` objects; the SDK
has already dropped ``ping`` and raised the ``error`` event) in order. The sequence, as the
API sends it:

* ``message_start``: the message's id and model, and usage so far (the input tokens, cache
  reads and writes, a first output count);
* per content block: ``content_block_start`` (a ``text`` block, a ``tool_use`` block with its
  id and name and an empty ``input``, or reasoning, which the public format leaves out),
  ``content_block_delta`` (``text_delta``; ``input_json_delta``: a fragment of the call's
  JSON arguments; reasoning deltas), ``content_block_stop``;
* ``message_delta``: the ``stop_reason`` and the usage totals (``output_tokens``; newer
  API versions repeat the input counts);
* ``message_stop``: the end. A stream without it was cut short.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import ProviderError
from providers.anthropic_format import anthropic_usage, finish_reason_from_anthropic
from providers.streaming import StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from providers.upstream_errors import malformed_reply, stream_cut_short

# Reasoning is not part of the public format, as in complete().
_SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})
_SKIPPED_DELTAS = frozenset({"thinking_delta", "signature_delta", "citations_delta"})


@dataclass(slots=True)
class EventReader:
    """Reads one Messages stream."""

    _usage: dict[str, Any] = field(default_factory=dict)
    _stop_reason: object = None
    _stopped: bool = False
    _model: str | None = None
    _id: str | None = None
    # content block index -> tool call index, for the tool_use blocks
    _calls: dict[int, int] = field(default_factory=dict)

    def feed(self, event: object) -> list[StreamEvent]:
        """The neutral events of one stream event; ``malformed_reply`` for one of the wrong
        shape, ``ProviderError`` for a content block the public format cannot carry."""
        if not isinstance(event, Mapping):
            raise malformed_reply("a stream event is not a JSON object")
        match event.get("type"):
            case "message_start":
                self._start(event.get("message"))
            case "content_block_start":
                return self._block_start(_index(event), event.get("content_block"))
            case "content_block_delta":
                return self._delta(_index(event), event.get("delta"))
            case "message_delta":
                delta = event.get("delta")
                if isinstance(delta, Mapping) and delta.get("stop_reason") is not None:
                    self._stop_reason = delta["stop_reason"]
                self._note_usage(event.get("usage"))
            case "message_stop":
                self._stopped = True
        return []  # content_block_stop, and event types added later

    def _start(self, message: object) -> None:
        if not isinstance(message, Mapping):
            raise malformed_reply("message_start has no message object")
        model, message_id = message.get("model"), message.get("id")
        self._model = model if isinstance(model, str) and model else None
        self._id = message_id if isinstance(message_id, str) and message_id else None
        self._note_usage(message.get("usage"))

    def _note_usage(self, usage: object) -> None:
        # Each report holds totals so far: the later value of a counter wins.
        if isinstance(usage, Mapping):
            self._usage.update({k: v for k, v in usage.items() if v is not None})

    def _block_start(self, index: int, block: object) -> list[StreamEvent]:
        kind = block.get("type") if isinstance(block, Mapping) else None
        match block:
            case {"type": "text", **rest}:
                text = rest.get("text")
                return [TextDelta(text)] if isinstance(text, str) and text else []
            case {"type": "tool_use", "id": str(call_id), "name": str(name)}:
                self._calls[index] = len(self._calls)
                return [ToolCallDelta(self._calls[index], call_id, name)]
            case {"type": str(kind)} if kind in _SKIPPED_BLOCKS:
                return []
        raise ProviderError(f"unsupported content block {kind!r} in Anthropic message")

    def _delta(self, index: int, delta: object) -> list[StreamEvent]:
        match delta:
            case {"type": "text_delta", "text": str(text)}:
                return [TextDelta(text)] if text else []
            case {"type": "input_json_delta", "partial_json": str(fragment)} if (
                index in self._calls
            ):
                return [ToolCallDelta(self._calls[index], arguments=fragment)]
            case {"type": str(kind)} if kind in _SKIPPED_DELTAS:
                return []
        raise malformed_reply(f"an unexpected delta in content block {index}")

    def end(self) -> StreamEnd:
        """The stream's end, once the body has ended: ``stream_cut_short`` without a
        ``message_stop``."""
        if not self._stopped:
            raise stream_cut_short()
        return StreamEnd(
            finish_reason=finish_reason_from_anthropic(self._stop_reason, bool(self._calls)),
            usage=anthropic_usage(self._usage) if self._usage else None,
            model=self._model,
            provider_response_id=self._id,
        )


def _index(event: Mapping[str, Any]) -> int:
    index = event.get("index")
    if not isinstance(index, int) or isinstance(index, bool):
        raise malformed_reply(f"{event.get('type')} has no block index")
    return index
