"""Vendor-neutral stream events, and the assembler that folds them into a ``ChatResponse``.

Every adapter's ``stream`` translates its vendor's streaming wire format (OpenAI chunks,
Anthropic message events, Bedrock ConverseStream, Gemini ``streamGenerateContent``, Ollama
NDJSON, watsonx and OCI SSE) into these events. Workers append them to the job's stream for
the API to relay, and assemble them into the same ``ChatResponse`` that ``complete`` returns,
so the job record is identical whether the call streamed or not.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from providers.types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    Message,
    TextPart,
    ToolCall,
    Usage,
)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """More of the assistant's text; ``logprobs`` the OpenAI ``logprobs.content`` entries of
    its tokens, when the request asked for them."""

    text: str
    logprobs: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of the ``index``-th tool call: its id and name arrive once (usually first),
    its JSON ``arguments`` in any number of pieces to be concatenated."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last event of a stream: why it stopped and what it cost. ``usage`` is None when
    the provider did not report it."""

    finish_reason: FinishReason
    usage: Usage | None = None
    model: str | None = None
    provider_response_id: str | None = None


StreamEvent = TextDelta | ToolCallDelta | StreamEnd


class StreamingProvider(Protocol):
    """A provider that can stream (every ``providers.base.Provider`` can). Blocking, like
    ``Provider.complete``; every failure, before or during the stream, is a
    ``gateway.errors.ProviderError``."""

    instance: str

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        """Events as the provider produces them, ending with exactly one ``StreamEnd``. A
        generator: nothing is sent before the first ``next()``, and ``close()`` stops
        reading and releases the connection (a caller that gives up early)."""
        ...


@dataclass(slots=True)
class _ToolCallParts:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StreamAssembler:
    """Folds stream events into the ``ChatResponse`` that ``complete`` would have returned."""

    model: str
    _text: list[str] = field(default_factory=list)
    _calls: dict[int, _ToolCallParts] = field(default_factory=dict)
    _logprobs: list[Mapping[str, Any]] | None = None
    _end: StreamEnd | None = None

    def add(self, event: StreamEvent) -> None:
        match event:
            case TextDelta(text=text, logprobs=logprobs):
                self._text.append(text)
                if logprobs:
                    self._logprobs = self._logprobs or []
                    self._logprobs.extend(logprobs)
            case ToolCallDelta():
                parts = self._calls.setdefault(event.index, _ToolCallParts())
                parts.id = event.id or parts.id
                parts.name = event.name or parts.name
                parts.arguments.append(event.arguments)
            case StreamEnd():
                self._end = event

    @property
    def ended(self) -> bool:
        return self._end is not None

    def response(self) -> ChatResponse:
        """The assembled reply; only after the ``StreamEnd`` (a stream cut short is a
        provider failure, not a shorter answer)."""
        if self._end is None:
            raise ValueError("the stream has not ended")
        text = "".join(self._text)
        calls = tuple(
            ToolCall(id=p.id, name=p.name, arguments="".join(p.arguments) or "{}")
            for _, p in sorted(self._calls.items())
        )
        message = Message(
            role="assistant", content=(TextPart(text),) if text else (), tool_calls=calls
        )
        return ChatResponse(
            message=message,
            finish_reason=self._end.finish_reason,
            usage=self._end.usage or Usage(),
            model=self._end.model or self.model,
            provider_response_id=self._end.provider_response_id,
            logprobs=logprobs_object(self._logprobs),
        )


def logprobs_object(content: list[Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """OpenAI's ``choice.logprobs`` for the token entries of an answer; None without any."""
    return None if content is None else {"content": list(content), "refusal": None}
