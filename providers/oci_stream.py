"""OCI Generative AI's streamed chat (GENERIC format, ``isStream``) to neutral events.

Pure: an :class:`EventReader` is fed the decoded server-sent events in order. As OCI sends
them (data only, no event names): ``{"index", "message": {"role": "ASSISTANT", "content":
[{"type": "TEXT", "text"}]}}`` for text; ``message.toolCalls`` for tool-call fragments,
flat like the calls of a chat result (``{"type": "FUNCTION", "id", "name", "arguments"}``)
but in pieces: the models differ in which pieces repeat the id. A fragment with an id not
seen before opens a call (xAI's models send parallel calls that way, each at list position
0); one without an id continues the call at its list position, or else the last one opened
(what OpenAI's and Meta's models send), unless it names another function (Gemini's send
no ids at all). ``{"index", "finishReason"}`` ends the answer, and
with ``streamOptions.isIncludeUsage`` a last event carries the ``usage`` (then, as OCI's
reference describes it, ``data: [DONE]``, which the adapter stops at). A stream without
a finish reason was cut short; the adapter handles OCI's error body in an event's place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from providers.oci_format import finish_reason_from_oci, oci_usage, synthetic_id, text_of
from providers.streaming import StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from providers.types import Usage
from providers.upstream_errors import malformed_reply, stream_cut_short


@dataclass(slots=True)
class _Call:
    id: str | None
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class EventReader:
    """Reads one stream; ``request_id`` (the ``opc-request-id`` header) is the exchange's
    id and seeds the ids of calls sent without one, as in ``complete``."""

    request_id: str | None = None
    _calls: list[_Call] = field(default_factory=list)
    _reason: object = None
    _finished: bool = False
    _usage: Usage | None = None

    def feed(self, event: object) -> list[StreamEvent]:
        """The events of one decoded event; ``malformed_reply`` for one of the wrong shape."""
        if not isinstance(event, Mapping):
            raise malformed_reply("a stream event is not a JSON object")
        if (usage := event.get("usage")) is not None:
            self._usage = oci_usage(usage)
        events: list[StreamEvent] = []
        message = event.get("message")
        if message is not None:
            if not isinstance(message, Mapping):
                raise malformed_reply("a stream event's message is not an object")
            text = text_of(message.get("content"))
            events += [TextDelta(text)] if text else []
            fragments = message.get("toolCalls") or []
            if not isinstance(fragments, list):
                raise malformed_reply("a stream event's toolCalls is not a list")
            events += [self._fragment(f, position) for position, f in enumerate(fragments)]
        if event.get("finishReason") is not None:
            self._reason, self._finished = event["finishReason"], True
        return events

    def _fragment(self, raw: object, position: int) -> ToolCallDelta:
        if not isinstance(raw, Mapping) or raw.get("type", "FUNCTION") != "FUNCTION":
            raise malformed_reply("a streamed tool call is not a FUNCTION object")
        call_id, name, arguments = raw.get("id"), raw.get("name"), raw.get("arguments")
        for value in (call_id, name, arguments):
            if value is not None and not isinstance(value, str):
                raise malformed_reply("a streamed tool call's id, name or arguments is not text")
        index = self._index_of(call_id or None, name or None, position)
        call = self._calls[index]
        call.name = call.name or name or ""
        call.arguments.append(arguments or "")
        return ToolCallDelta(index, call_id or None, name or None, arguments or "")

    def _index_of(self, call_id: str | None, name: str | None, position: int) -> int:
        if call_id is not None:
            for index, call in enumerate(self._calls):
                if call.id == call_id:
                    return index
        elif self._calls:
            target = position if 0 < position < len(self._calls) else len(self._calls) - 1
            # Without ids, only another function's name starts another call.
            if name is None or self._calls[target].name in ("", name):
                return target
        self._calls.append(_Call(call_id))
        return len(self._calls) - 1

    def end(self) -> list[StreamEvent]:
        """The last events: the ids of calls that never got one, then the ``StreamEnd``;
        ``stream_cut_short`` without a finish reason."""
        if not self._finished:
            raise stream_cut_short()
        events: list[StreamEvent] = []
        exchange = f"{self.request_id}|stream"
        for index, call in enumerate(self._calls):
            if not call.name:
                raise malformed_reply("a streamed tool call has no name")
            if call.id is None:
                arguments = "".join(call.arguments) or "{}"
                call_id = synthetic_id(exchange, index, call.name, arguments)
                events.append(ToolCallDelta(index, id=call_id))
        end = StreamEnd(
            finish_reason=finish_reason_from_oci(self._reason, bool(self._calls)),
            usage=self._usage,
            provider_response_id=self.request_id,
        )
        return [*events, end]
