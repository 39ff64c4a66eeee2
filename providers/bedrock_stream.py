"""Bedrock ConverseStream events to neutral stream events.

Pure: an :class:`EventReader` is fed the events boto3 decodes from the binary event stream
(one-key dicts such as ``{"contentBlockDelta": {...}}``; exception messages it raises
itself). The sequence, as Bedrock sends it:

* ``messageStart`` (the role);
* per content block: ``contentBlockStart`` (only for a tool call: its ``toolUseId`` and
  ``name``), ``contentBlockDelta`` (``text``; ``toolUse.input``, a fragment of the call's
  JSON input; ``reasoningContent``, which the public format leaves out, as ``complete``
  does), ``contentBlockStop``;
* ``messageStop`` with the ``stopReason``;
* ``metadata`` with the ``usage`` (and latency metrics): the last event. A stream without
  it was cut short, and would leave the call's cost unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import ProviderError
from providers.bedrock_format import converse_usage, finish_reason_from_converse
from providers.streaming import StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from providers.types import Usage
from providers.upstream_errors import malformed_reply, stream_cut_short


@dataclass(slots=True)
class EventReader:
    """Reads one ConverseStream; ``model`` is the requested one (Converse does not echo
    it), ``request_id`` AWS's id for the exchange."""

    model: str
    request_id: str | None = None
    _stop_reason: object = None
    _stopped: bool = False
    _usage: Usage | None = None
    # content block index -> tool call index, for the toolUse blocks
    _calls: dict[int, int] = field(default_factory=dict)

    def feed(self, event: object) -> list[StreamEvent]:
        """The neutral events of one stream event; ``malformed_reply`` for one of the wrong
        shape, ``ProviderError`` for a content block the public format cannot carry."""
        if not isinstance(event, Mapping):
            raise malformed_reply("a stream event is not an object")
        if isinstance(start := event.get("contentBlockStart"), Mapping):
            return self._block_start(_index(start), start.get("start"))
        if isinstance(delta := event.get("contentBlockDelta"), Mapping):
            return self._delta(_index(delta), delta.get("delta"))
        if isinstance(stop := event.get("messageStop"), Mapping):
            self._stop_reason, self._stopped = stop.get("stopReason"), True
        if isinstance(metadata := event.get("metadata"), Mapping):
            self._usage = converse_usage(metadata.get("usage"))
        return []  # messageStart, contentBlockStop

    def _block_start(self, index: int, start: object) -> list[StreamEvent]:
        match start:
            case {"toolUse": {"toolUseId": str(call_id), "name": str(name)}}:
                self._calls[index] = len(self._calls)
                return [ToolCallDelta(self._calls[index], call_id, name)]
        kind = next(iter(start), None) if isinstance(start, Mapping) else None
        raise ProviderError(f"unsupported content block {kind!r} in Converse response")

    def _delta(self, index: int, delta: object) -> list[StreamEvent]:
        match delta:
            case {"text": str(text)}:
                return [TextDelta(text)] if text else []
            case {"toolUse": {"input": str(fragment)}} if index in self._calls:
                return [ToolCallDelta(self._calls[index], arguments=fragment)]
            case {"reasoningContent": _}:  # reasoning is not part of the public format
                return []
        kind = next(iter(delta), None) if isinstance(delta, Mapping) else None
        raise ProviderError(f"unsupported content block {kind!r} in Converse response")

    def end(self) -> StreamEnd:
        """The stream's end: ``stream_cut_short`` without ``messageStop`` and ``metadata``."""
        if not self._stopped or self._usage is None:
            raise stream_cut_short()
        return StreamEnd(
            finish_reason=finish_reason_from_converse(self._stop_reason, bool(self._calls)),
            usage=self._usage,
            model=self.model,
            provider_response_id=self.request_id,
        )


def _index(event: Mapping[str, Any]) -> int:
    index = event.get("contentBlockIndex")
    if not isinstance(index, int) or isinstance(index, bool):
        raise malformed_reply("a content block event has no contentBlockIndex")
    return index
