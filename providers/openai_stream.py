"""``chat.completion.chunk`` objects to neutral stream events: OpenAI's streaming format,
which Azure OpenAI and watsonx.ai (``/ml/v1/text/chat_stream``) share.

Pure: a :class:`ChunkReader` is fed the decoded chunks in order and says, at the end,
whether the stream was complete. The format, as these APIs send it:

* ``choices[0].delta`` carries text (``content``, or a ``refusal``, which is the only text
  the caller will get) and tool-call fragments: ``{"index", "id", "type", "function":
  {"name", "arguments"}}``, the id and name once (watsonx repeats the name as ``""``), the
  JSON arguments in any number of pieces under the same index;
* ``choices[0].finish_reason`` is set on the last chunk with choices;
* usage comes in a chunk of its own with ``choices: []`` after it (OpenAI and Azure only
  when asked with ``stream_options.include_usage``; watsonx always); Azure's first chunk has
  no choices either (its prompt filter results).

A stream is complete once a finish reason arrived; what follows it is only usage. A
stream without one was cut short.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field

from gateway.errors import ProviderError
from providers.openai_format import finish_reason_from_openai
from providers.openai_options import logprob_entries
from providers.streaming import StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from providers.types import FinishReason, Usage
from providers.upstream_errors import for_instance, malformed_reply, stream_cut_short

FinishMapping = Callable[[object, bool], FinishReason]
"""A vendor's ``finish_reason`` and whether the answer holds tool calls → the neutral one."""


def openai_usage(usage: object) -> Usage:
    """The ``usage`` object of a completion or a chunk (OpenAI's and watsonx's keys)."""
    return Usage.counted(usage, ("prompt_tokens",), ("completion_tokens",))


@dataclass(slots=True)
class ChunkReader:
    """Reads one stream's chunks. ``finish`` maps the finish reason (the vendor's, shared
    with its ``complete``); ``model_fields`` name where a chunk may say its model."""

    finish: FinishMapping = finish_reason_from_openai
    model_fields: tuple[str, ...] = ("model",)
    _reason: object = None
    _finished: bool = False
    _usage: Usage | None = None
    _model: str | None = None
    _id: str | None = None
    # index -> [has an id, has a name]: a call must have both by the end.
    _calls: dict[int, list[bool]] = field(default_factory=dict)

    def feed(self, chunk: object) -> list[StreamEvent]:
        """The events of one decoded chunk; ``malformed_reply`` for one of the wrong shape."""
        if not isinstance(chunk, Mapping):
            raise malformed_reply("a stream chunk is not a JSON object")
        self._note_envelope(chunk)
        choices = chunk.get("choices")
        if not choices:  # a usage chunk, or Azure's prompt filter results
            return []
        if not isinstance(choices, list) or not isinstance(choices[0], Mapping):
            raise malformed_reply("a stream chunk's choices is not a list of objects")
        choice = choices[0]
        delta = choice.get("delta") or {}
        if not isinstance(delta, Mapping):
            raise malformed_reply("a stream chunk's delta is not an object")
        events: list[StreamEvent] = []
        # A chunk's logprobs are those of its tokens: they ride with its text.
        logprobs = logprob_entries(choice.get("logprobs"))
        for key in ("content", "refusal"):
            text = delta.get(key)
            if isinstance(text, str) and (text or logprobs):
                events.append(TextDelta(text, logprobs))
                logprobs = ()
        if logprobs:
            events.append(TextDelta("", logprobs))
        fragments = delta.get("tool_calls") or []
        if not isinstance(fragments, list):
            raise malformed_reply("a stream chunk's tool_calls is not a list")
        events += [self._fragment(raw, position) for position, raw in enumerate(fragments)]
        if choice.get("finish_reason") is not None:
            self._reason, self._finished = choice["finish_reason"], True
        return events

    def _note_envelope(self, chunk: Mapping[str, object]) -> None:
        usage = chunk.get("usage")
        if isinstance(usage, Mapping):
            self._usage = openai_usage(usage)
        for key in self.model_fields:
            if isinstance(model := chunk.get(key), str) and model:
                self._model = model
                break
        if isinstance(chunk_id := chunk.get("id"), str) and chunk_id:
            self._id = chunk_id

    def _fragment(self, raw: object, position: int) -> ToolCallDelta:
        fragment: Mapping[str, object] = raw if isinstance(raw, Mapping) else {}
        function = fragment.get("function")
        if not isinstance(function, Mapping):
            raise malformed_reply("a streamed tool call has no function object")
        index = fragment.get("index", position)
        if not isinstance(index, int) or isinstance(index, bool):
            raise malformed_reply("a streamed tool call's index is not an integer")
        call_id = _optional_text(fragment.get("id"))
        name = _optional_text(function.get("name"))
        arguments = _optional_text(function.get("arguments"))
        seen = self._calls.setdefault(index, [False, False])
        seen[0] = seen[0] or bool(call_id)
        seen[1] = seen[1] or bool(name)
        return ToolCallDelta(index, call_id or None, name or None, arguments or "")

    def end(self) -> StreamEnd:
        """The stream's end, once the body has ended: ``stream_cut_short`` without a finish
        reason, ``malformed_reply`` for a tool call that never got an id or a name."""
        if not self._finished:
            raise stream_cut_short()
        if not all(has_id and has_name for has_id, has_name in self._calls.values()):
            raise malformed_reply("a streamed tool call has no id or no name")
        return StreamEnd(
            finish_reason=self.finish(self._reason, bool(self._calls)),
            usage=self._usage,
            model=self._model,
            provider_response_id=self._id,
        )


def stream_events(
    chunks: Generator[object, None, None], provider: str
) -> Generator[StreamEvent, None, None]:
    """The neutral events of OpenAI's and Azure's decoded ``chunks``, ending in the stream's
    end; every failure is a ``ProviderError`` naming ``provider``. Closing this closes
    ``chunks`` (and so the connection under them)."""
    reader = ChunkReader()
    try:
        for chunk in chunks:
            yield from reader.feed(chunk)
        yield reader.end()
    except ProviderError as exc:
        raise for_instance(exc, provider) from None
    finally:
        chunks.close()


def _optional_text(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise malformed_reply("a streamed tool call's id, name or arguments is not text")
    return value
