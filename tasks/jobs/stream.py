"""A streaming job's events, as its Redis Stream (``keys.job_stream``) keeps them.

A job submitted with ``stream: true`` gets a stream beside its record. The worker running
it appends events as the provider produces them (only while it holds the job's lease, so
a worker that lost the job cannot splice its output into the next attempt's); the script
that ends the job appends the terminal ``done`` event in the same step
(``scripts/on_terminal.lua``). The stream is bounded (``MAXLEN ~``) and expires with the
record. Readers (``tasks.jobs.stream_hub``) replay it from any event id.

Every entry has one field, ``e``: a JSON object whose ``type`` is one of

- ``attempt``: ``{attempt, turn, instance}`` — a provider call for model turn ``turn`` (0,
  then 1 after a tool round, …) starts streaming. An ``attempt`` for a turn that already
  had output *replaces* that output (a worker was lost mid-stream and the job re-ran);
  readers must never splice the two.
- ``text``: ``{text}`` — more of the answer; with ``logprobs`` (a list of OpenAI's
  ``logprobs.content`` entries) when the request asked for them and the provider sent them.
- ``tool_call``: ``{index, id, name, arguments}`` — a fragment of a tool call the model
  makes; ``arguments`` pieces concatenate.
- ``turn_end``: ``{finish_reason, usage}`` — a model reply is complete.
- ``tool_results``: ``{results: [{tool_call_id, name, ok}]}`` — a tool loop ran a round of
  the gateway's tools (progress only; the results themselves are in the record).
- ``done``: ``{status}`` — the job is terminal; the record has the outcome. Always last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from providers.streaming import StreamEnd, StreamEvent, TextDelta, ToolCallDelta

# The entry field holding the event.
FIELD = "e"


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One event as read back: its stream id (the SSE event id) and its JSON object."""

    id: str
    event: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.event.get("type", ""))


def encode(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def attempt_event(attempt: int, turn: int, instance: str) -> dict[str, Any]:
    return {"type": "attempt", "attempt": attempt, "turn": turn, "instance": instance}


def provider_event(event: StreamEvent) -> dict[str, Any]:
    """A provider's neutral stream event as a job stream event."""
    match event:
        case TextDelta(text=text, logprobs=()):
            return {"type": "text", "text": text}
        case TextDelta(text=text, logprobs=logprobs):
            return {"type": "text", "text": text, "logprobs": [dict(e) for e in logprobs]}
        case ToolCallDelta(index=index, id=call_id, name=name, arguments=arguments):
            return {
                "type": "tool_call",
                "index": index,
                "id": call_id,
                "name": name,
                "arguments": arguments,
            }
        case StreamEnd(finish_reason=reason, usage=usage):
            return {
                "type": "turn_end",
                "finish_reason": reason,
                "usage": usage.as_dict() if usage is not None else None,
            }


def tool_results_event(results: list[tuple[str, str, bool]]) -> dict[str, Any]:
    """``results``: (tool call id, tool name, ok) of each call in a round."""
    return {
        "type": "tool_results",
        "results": [{"tool_call_id": i, "name": n, "ok": ok} for i, n, ok in results],
    }


def decode(entry_id: object, fields: object) -> StreamEntry:
    """An entry as redis-py returns it (bytes or str; fields a dict)."""
    raw = fields.get(FIELD) if isinstance(fields, dict) else None
    if raw is None and isinstance(fields, dict):
        raw = fields.get(FIELD.encode())
    event = orjson.loads(raw) if isinstance(raw, bytes | str) else {}
    ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return StreamEntry(ident, event if isinstance(event, dict) else {})
