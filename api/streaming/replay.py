"""A cached answer replayed as a stream: the chunks (OpenAI) or events (Anthropic) a
computed answer would have produced, from its record, at once. The same builders as a
live stream's make them (``ChatChunks``, ``MessageEvents``), so both look the same to a
client: role, content, tool calls, finish reason, usage, ``[DONE]``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.anthropic.response import message_id
from api.anthropic.stream import MessageEvents
from api.streaming.openai_chunks import ChatChunks
from tasks.jobs.record import JobRecord
from tasks.jobs.stream import StreamEntry

_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def _chunks(record: JobRecord, completion_id: str, include_usage: bool) -> list[Any]:
    chunks = ChatChunks(
        completion_id=completion_id,
        created=int(record.created_at),
        model=record.model or "",
        include_usage=include_usage,
        # Tool calls go whole, as a held reply's are released.
        hold_tool_calls=True,
    )
    message = (record.result or {}).get("message") or {}
    out: list[Any] = []
    text = message.get("content")
    if isinstance(text, list):  # content parts: their text
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    if text:
        out += chunks.on_event(StreamEntry("0", {"type": "text", "text": text})) or []
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        event = {
            "type": "tool_call",
            "index": index,
            "id": call.get("id"),
            "name": function.get("name"),
            "arguments": function.get("arguments"),
        }
        chunks.on_event(StreamEntry("0", event))
    return out + chunks.finish(record)


def _response(events: list[ServerSentEvent], headers: dict[str, str]) -> EventSourceResponse:
    async def replay() -> AsyncIterator[ServerSentEvent]:
        for event in events:
            yield event

    return EventSourceResponse(replay(), headers={**_HEADERS, **headers})


def chat_replay(
    record: JobRecord, *, include_usage: bool, headers: dict[str, str]
) -> EventSourceResponse:
    """The answer as OpenAI ``chat.completion.chunk`` events, then ``[DONE]``."""
    completion_id = f"chatcmpl-{record.id.removeprefix('job_')}"
    payloads = _chunks(record, completion_id, include_usage)
    events = [
        ServerSentEvent(data=p if isinstance(p, str) else orjson.dumps(p).decode())
        for p in payloads
    ]
    return _response(events, headers)


def message_replay(record: JobRecord, *, headers: dict[str, str]) -> EventSourceResponse:
    """The answer as Anthropic's Messages events, ``message_start`` to ``message_stop``."""
    message = MessageEvents(record)
    named = [
        message.start(),
        *message.chunks(_chunks(record, message_id(record.id), include_usage=True)),
        *message.end(),
    ]
    events = [ServerSentEvent(data=orjson.dumps(d).decode(), event=n) for n, d in named]
    return _response(events, headers)
