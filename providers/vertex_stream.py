"""Gemini's ``streamGenerateContent?alt=sse`` chunks to neutral stream events.

Pure: a :class:`ChunkReader` is fed the decoded chunks in order. Each chunk is a whole
``GenerateContentResponse`` holding the next parts of the first candidate: text pieces,
and function calls, each whole (Gemini does not split a call's arguments; on Vertex v1 they
carry no id, so one is made up, and a Gemini 3 ``thoughtSignature`` rides in it, as in
``complete``). The last chunk has the candidate's ``finishReason``; ``usageMetadata`` may
come with any chunk and the last one counts (earlier ones hold partial counts).
``modelVersion`` and ``responseId`` come with every chunk. A prompt blocked before any
output is a chunk with ``promptFeedback`` and no candidates. A stream without a finish
reason was cut short; the adapter handles an ``{"error": ...}`` chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from providers.streaming import StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from providers.types import FinishReason, ToolCall, Usage
from providers.upstream_errors import malformed_reply, stream_cut_short
from providers.vertex_format import finish_reason_from_gemini, gemini_usage, read_part


@dataclass(slots=True)
class ChunkReader:
    """Reads one stream; ``model`` is the requested one, for chunks that name none."""

    model: str
    _calls: int = 0
    _reason: object = None
    _finished: bool = False
    _blocked: bool = False
    _usage: Usage | None = None
    _version: str | None = None
    _id: str | None = None

    def feed(self, chunk: object) -> list[StreamEvent]:
        """The events of one chunk; ``malformed_reply`` for one of the wrong shape,
        ``ProviderError`` for a part the public format cannot carry or an unusable call."""
        if not isinstance(chunk, Mapping):
            raise malformed_reply("a stream chunk is not a JSON object")
        if (metadata := chunk.get("usageMetadata")) is not None:
            self._usage = gemini_usage(metadata)
        if isinstance(version := chunk.get("modelVersion"), str) and version:
            self._version = version
        if isinstance(response_id := chunk.get("responseId"), str) and response_id:
            self._id = response_id
        candidates = chunk.get("candidates")
        if not candidates:
            if isinstance(chunk.get("promptFeedback"), Mapping):
                self._blocked = True  # the prompt was blocked: no candidate comes
            return []
        if not isinstance(candidates, list) or not isinstance(candidates[0], Mapping):
            raise malformed_reply("a stream chunk's candidates is not a list of objects")
        return self._candidate(candidates[0])

    def _candidate(self, candidate: Mapping[str, object]) -> list[StreamEvent]:
        content = candidate.get("content") or {}
        parts = content.get("parts") if isinstance(content, Mapping) else None
        texts: list[str] = []
        calls: list[ToolCall] = []
        for part in parts if isinstance(parts, list) else []:
            read_part(part, texts, calls)
        events: list[StreamEvent] = [TextDelta(text) for text in texts if text]
        for call in calls:
            events.append(ToolCallDelta(self._calls, call.id, call.name, call.arguments))
            self._calls += 1
        if (reason := candidate.get("finishReason")) is not None:
            self._reason, self._finished = reason, True
        return events

    def end(self) -> StreamEnd:
        """The stream's end: ``stream_cut_short`` without a finish reason (or a blocked
        prompt's feedback, ``content_filter`` as in ``complete``)."""
        finish: FinishReason
        if self._finished:
            finish = finish_reason_from_gemini(self._reason, self._calls > 0)
        elif self._blocked:
            finish = "content_filter"
        else:
            raise stream_cut_short()
        return StreamEnd(
            finish_reason=finish,
            usage=self._usage,
            model=self._version or self.model,
            provider_response_id=self._id,
        )
