"""Ollama's streamed chat (``POST /api/chat`` with ``"stream": true``) to neutral events.

Pure: a :class:`LineReader` is fed the NDJSON lines in order. As Ollama sends them: each
line a chat object whose ``message`` holds the next piece of text (``content``; reasoning
in ``thinking`` is left out, as in ``complete``) or tool calls, each call whole (its
``arguments`` an object, usually without an id); the last line has ``"done": true``, the
``done_reason`` and the token counts. A failure after the 200 is a line ``{"error": "..."}``.
A stream without its ``done`` line was cut short.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from providers.ollama_format import (
    CallIdFactory,
    call_from_ollama,
    finish_reason_from_ollama,
    logprobs_from_ollama,
    ollama_usage,
)
from providers.streaming import StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from providers.types import Usage
from providers.upstream_errors import malformed_reply, stream_cut_short, stream_failed


@dataclass(slots=True)
class LineReader:
    """Reads one streamed chat. ``call_id`` makes the ids of calls sent without one."""

    call_id: CallIdFactory
    _calls: int = 0
    _done: bool = False
    _reason: object = None
    _usage: Usage | None = None
    _model: str | None = None

    def feed(self, line: bytes | str) -> list[StreamEvent]:
        """The events of one line; ``malformed_reply`` for one that is not a chat object,
        ``stream_failed`` for Ollama's error line."""
        if not line.strip():
            return []
        try:
            chunk = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise malformed_reply("a stream line is not valid JSON") from None
        if not isinstance(chunk, Mapping):
            raise malformed_reply("a stream line is not a JSON object")
        if isinstance(error := chunk.get("error"), str):
            # Ollama's message is its own (the model runner's): no credential to scrub.
            raise stream_failed(error[:500], provider="")
        if isinstance(model := chunk.get("model"), str) and model:
            self._model = model
        events = self._message(chunk.get("message"), tuple(logprobs_from_ollama(chunk)))
        if chunk.get("done") is True:
            self._done, self._reason = True, chunk.get("done_reason")
            self._usage = ollama_usage(chunk)
        return events

    def _message(
        self, message: object, logprobs: tuple[Mapping[str, object], ...]
    ) -> list[StreamEvent]:
        if message is None:
            return []
        if not isinstance(message, Mapping):
            raise malformed_reply("a stream line's message is not an object")
        events: list[StreamEvent] = []
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise malformed_reply("a stream line's content is not a string")
        if content or logprobs:  # a line's logprobs are those of its text
            events.append(TextDelta(content or "", logprobs))
        raw_calls = message.get("tool_calls") or []
        if not isinstance(raw_calls, list):
            raise malformed_reply("a stream line's tool_calls is not a list")
        for raw in raw_calls:
            call = call_from_ollama(raw, self._calls, self.call_id)
            events.append(ToolCallDelta(self._calls, call.id, call.name, call.arguments))
            self._calls += 1
        return events

    def end(self) -> StreamEnd:
        """The stream's end: ``stream_cut_short`` without the ``done`` line."""
        if not self._done:
            raise stream_cut_short()
        return StreamEnd(
            finish_reason=finish_reason_from_ollama(self._reason, self._calls > 0),
            usage=self._usage,
            model=self._model,
        )
