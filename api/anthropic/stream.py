"""A streaming completion job as Anthropic's Messages API events: ``message_start``, per
content block ``content_block_start`` / ``content_block_delta`` (``text_delta``,
``input_json_delta``) / ``content_block_stop``, then ``message_delta`` (stop reason and
usage) and ``message_stop``; ``error`` when the job fails mid-stream; ``ping`` (beside the
keep-alive comment saying where the job is) while nothing arrives.

What is relayed when is decided by OpenAI's chunk builder (``ChatChunks``): tool calls
held while a tool loop may still run them, a restarted turn ending the stream. Its chunks
are re-cut here into Anthropic's blocks, so both APIs relay exactly the same answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sse_starlette import ServerSentEvent
from starlette.responses import Response

from api.anthropic.errors import anthropic_body, anthropic_status
from api.anthropic.response import message_id, stop_reason, usage
from api.services import ApiServices
from api.streaming.follow import KeepAlive, follow_job
from api.streaming.openai_chunks import ChatChunks
from api.streaming.responses import (
    first_item,
    first_or_answer,
    runs_gateway_tools,
    sse_response,
)
from gateway.errors import status_for_error_type
from tasks.jobs.record import JobRecord, JobStatus

Event = tuple[str, dict[str, Any]]


@dataclass(slots=True)
class MessageEvents:
    """Turns OpenAI chunks of one completion into Anthropic's events (name, data)."""

    record: JobRecord
    _index: int = -1
    # The open block: "text", "tool_use" or None; for tool use, the call's chunk index.
    _open: str | None = None
    _call: int | None = None
    _stop: str = "end_turn"
    _usage: dict[str, int] = field(default_factory=lambda: usage(None))

    def start(self) -> Event:
        message: dict[str, Any] = {
            "id": message_id(self.record.id),
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self.record.model or "",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage(None),
        }
        return "message_start", {"type": "message_start", "message": message}

    def chunks(self, chunks: list[Any]) -> list[Event]:
        """The events of OpenAI chunks (``[DONE]`` and the usage chunk included)."""
        events: list[Event] = []
        for chunk in chunks:
            if not isinstance(chunk, dict):
                continue  # "[DONE]"
            if "error" in chunk:
                events += self._close()
                events.append(error_event(chunk["error"]))
                continue
            if chunk.get("usage"):
                self._usage = usage(chunk["usage"])
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    events += self._text(delta["content"])
                for fragment in delta.get("tool_calls") or []:
                    events += self._tool_call(fragment)
                if choice.get("finish_reason"):
                    self._stop = stop_reason(choice["finish_reason"])
        return events

    def end(self) -> list[Event]:
        delta = {"stop_reason": self._stop, "stop_sequence": None}
        return [
            *self._close(),
            ("message_delta", {"type": "message_delta", "delta": delta, "usage": self._usage}),
            ("message_stop", {"type": "message_stop"}),
        ]

    def _text(self, text: str) -> list[Event]:
        events = [] if self._open == "text" else self._open_block({"type": "text", "text": ""})
        delta = {"type": "text_delta", "text": text}
        return [*events, self._delta(delta)]

    def _tool_call(self, fragment: dict[str, Any]) -> list[Event]:
        index = int(fragment.get("index") or 0)
        function = fragment.get("function") or {}
        events: list[Event] = []
        if self._open != "tool_use" or self._call != index or fragment.get("id"):
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": fragment.get("id") or "",
                "name": function.get("name") or "",
                "input": {},
            }
            events = self._open_block(block)
            self._call = index
        if function.get("arguments"):
            delta = {"type": "input_json_delta", "partial_json": function["arguments"]}
            events.append(self._delta(delta))
        return events

    def _open_block(self, block: dict[str, Any]) -> list[Event]:
        events = self._close()
        self._index += 1
        self._open = block["type"]
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        return [*events, ("content_block_start", start)]

    def _delta(self, delta: dict[str, Any]) -> Event:
        return "content_block_delta", {
            "type": "content_block_delta",
            "index": self._index,
            "delta": delta,
        }

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        self._open, self._call = None, None
        return [("content_block_stop", {"type": "content_block_stop", "index": self._index})]


def error_event(error: dict[str, Any]) -> Event:
    """A gateway error (``{"type", "message"}``) as Anthropic's ``error`` event."""
    error_type = str(error.get("type") or "internal_error")
    status = 500 if error_type == "stream_restarted" else status_for_error_type(error_type)
    body = anthropic_body(anthropic_status(status, error_type), str(error.get("message") or ""))
    return "error", body


def _sse(event: Event, entry_id: str | None = None) -> ServerSentEvent:
    name, data = event
    return ServerSentEvent(data=orjson.dumps(data).decode(), event=name, id=entry_id)


def message_stream(
    services: ApiServices,
    record: JobRecord,
    *,
    cancel_on_disconnect: bool,
    failed: Callable[[JobRecord], Response],
) -> Response:
    """``record`` (a streaming completion, just submitted) as Anthropic's events; a job
    that fails before producing anything is answered with ``failed(record)`` instead."""
    items = follow_job(services, record)
    chunks = ChatChunks(
        completion_id=message_id(record.id),
        created=int(record.created_at),
        model=record.model or "",
        include_usage=True,
        hold_tool_calls=runs_gateway_tools(services, record),
    )
    message = MessageEvents(record)

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            item = await first_or_answer(services, record, items, failed)
            yield _sse(message.start())
            while item is not None:
                if isinstance(item, KeepAlive):
                    yield ServerSentEvent(comment=item.comment)
                    yield _sse(("ping", {"type": "ping"}))
                    item = await first_item(items)
                    continue
                for entry in item:
                    if entry.type == "done":
                        done = await services.store.get(record.id, record.tenant)
                        out = message.chunks(list(chunks.finish(done)))
                        if done.status is JobStatus.SUCCEEDED:
                            out += message.end()
                    else:
                        released = chunks.on_event(entry)
                        if released is None:
                            out = message.chunks([chunks.restarted(record.id)])
                        else:
                            out = message.chunks(list(released))
                    for event in out:
                        yield _sse(event, entry.id)
                    if chunks.ended:
                        return
                item = await first_item(items)
        finally:
            await items.aclose()

    return sse_response(services, record, events(), cancel_on_disconnect)
