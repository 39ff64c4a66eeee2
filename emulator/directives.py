"""The directive format: ``<<emulator:{...json...}>>`` and scripted behaviours.

A request can script its own reply by embedding ``<<emulator:{...json...}>>``
in any text content (system prompt, message text, tool result text). The last
directive found, in conversation order, wins. A behaviour queued through the
control API (``POST /_emulator/script``) replaces in-text ones for one request
(in-text directives are still validated). All fields are optional:

``reply``          reply with this text instead of the default.
``tool_calls``     ``[{"name": ..., "arguments": {...}}]``: reply with tool
                   calls, but only while the conversation has no tool result
                   after the last user message (so agent loops terminate).
``status``         respond with this HTTP error (400..599) in the protocol's
                   error shape; ``error`` sets the message and ``retry_after``
                   (seconds) the ``retry-after`` header.
``latency_ms``     per-request latency override (for a stream: the time to its first
                   chunk).
``token_interval_ms``
                   the pause between two chunks of a streamed reply (a chunk is about a
                   word, or a fragment of a tool call's arguments); the server-wide value
                   (``POST /_emulator/config``) applies when unset.
``stream_fault``   break a streamed reply after ``fault_after`` chunks (default: half of
                   them): ``"cut"`` (the connection is closed without the stream's end),
                   ``"error"`` (the protocol's mid-stream error event, ``error`` its
                   message) or ``"malformed"`` (a chunk no client can decode, then the
                   rest). Requests that do not stream ignore it. See
                   :mod:`emulator.streaming`.
``usage``          ``{"prompt_tokens": N, "completion_tokens": M}`` override.
``finish_reason``  ``"stop"``, ``"length"`` or ``"tool_calls"`` override
                   (Anthropic names ``end_turn``/``max_tokens``/``tool_use``
                   are accepted too).
``turns``          a non-empty list of directive objects scripting a
                   multi-turn tool loop, see below.
``malformed``      answer 200 with a broken body instead of the reply, to test how
                   clients cope with a provider's bad *successful* answer:
                   ``"invalid_json"``, ``"not_object"`` (a JSON array),
                   ``"truncated"`` (the real body cut in half), ``"wrong_content_type"``
                   (an HTML page, ``text/html``) or ``"missing_fields"`` (the real body
                   without the field holding the answer). ``status`` wins over it.
                   See :mod:`emulator.malformed`.

Multi-turn tool loops (``turns``)
---------------------------------
``turns[k]`` applies, where ``k`` is the number of assistant messages after the
last user message (Anthropic: the last user message that is not only tool
results): 0 on a loop's first call, 1 after one tool round, and so on. Past
the end the last entry applies again, so ``{"turns": [{"tool_calls": [...]}]}``
calls tools forever. The chosen entry's fields override the outer directive's
(which act as defaults for every turn). An entry's own ``tool_calls`` fire
even when tool results follow the last user message; ``tool_calls`` inherited
from the outer directive keep the guard above. Entries are validated like
top-level directives and cannot hold ``turns`` themselves. Example::

    {"turns": [{"tool_calls": [{"name": "search_corpus", "arguments": {"q": "x"}}]},
               {"tool_calls": [{"name": "get_chunk", "arguments": {"id": 3}}]},
               {"reply": "done"}]}

A malformed directive (bad JSON, unknown field, wrong type) makes the request
fail with a 400 in the protocol's error shape, so typos never pass silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

FinishReason = Literal["stop", "tool_calls", "length"]
Malformation = Literal[
    "invalid_json", "not_object", "truncated", "wrong_content_type", "missing_fields"
]
StreamFault = Literal["cut", "error", "malformed"]

MALFORMATIONS: frozenset[Malformation] = frozenset(
    ("invalid_json", "not_object", "truncated", "wrong_content_type", "missing_fields")
)

STREAM_FAULTS: frozenset[StreamFault] = frozenset(("cut", "error", "malformed"))

DIRECTIVE_OPEN = "<<emulator:"
DIRECTIVE_CLOSE = ">>"

_FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "end_turn": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "tool_use": "tool_calls",
}
_DIRECTIVE_FIELDS = frozenset(
    (
        "reply",
        "tool_calls",
        "status",
        "retry_after",
        "error",
        "latency_ms",
        "usage",
        "finish_reason",
        "turns",
        "malformed",
        "token_interval_ms",
        "stream_fault",
        "fault_after",
    )
)


def directive(**fields: Any) -> str:
    """The in-text form of a directive, e.g. ``directive(reply="hi")``; for tests."""
    return DIRECTIVE_OPEN + json.dumps(fields) + DIRECTIVE_CLOSE


class DirectiveError(ValueError):
    """A directive (in-text or scripted) is malformed; reported to the client as a 400."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the emulated model makes."""

    name: str
    arguments: Mapping[str, Any]

    @property
    def arguments_json(self) -> str:
        """Arguments as compact JSON, the way providers send them."""
        return json.dumps(self.arguments, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Directive:
    """One scripted behaviour; ``None`` fields mean "not scripted"."""

    reply: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    status: int | None = None
    retry_after: float | None = None
    error: str | None = None
    latency_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: FinishReason | None = None
    turns: tuple[Directive, ...] | None = None
    malformed: Malformation | None = None
    token_interval_ms: int | None = None
    stream_fault: StreamFault | None = None
    fault_after: int | None = None

    @classmethod
    def from_json(cls, data: object) -> Directive:
        """Validate a decoded directive object; raises :class:`DirectiveError`."""
        if not isinstance(data, dict):
            raise DirectiveError("emulator directive must be a JSON object")
        unknown = sorted(set(data) - _DIRECTIVE_FIELDS)
        if unknown:
            raise DirectiveError(f"unknown emulator directive field(s): {', '.join(unknown)}")
        usage = data.get("usage")
        if usage is not None and not isinstance(usage, dict):
            raise DirectiveError("emulator directive 'usage' must be an object")
        usage = usage or {}
        status = _opt_int(data, "status")
        if status is not None and not 400 <= status <= 599:
            raise DirectiveError("emulator directive 'status' must be between 400 and 599")
        finish = _opt(data, "finish_reason", str)
        if finish is not None and finish not in _FINISH_REASONS:
            raise DirectiveError(f"unknown finish_reason {finish!r}")
        retry_after = _opt(data, "retry_after", (int, float))
        malformed = _opt(data, "malformed", str)
        if malformed is not None and malformed not in MALFORMATIONS:
            raise DirectiveError(f"unknown malformed kind {malformed!r}")
        fault = _opt(data, "stream_fault", str)
        if fault is not None and fault not in STREAM_FAULTS:
            raise DirectiveError(f"unknown stream_fault {fault!r}: cut, error or malformed")
        return cls(
            reply=_opt(data, "reply", str),
            tool_calls=_tool_calls(data.get("tool_calls")),
            status=status,
            retry_after=None if retry_after is None else float(retry_after),
            error=_opt(data, "error", str),
            latency_ms=_opt_int(data, "latency_ms"),
            prompt_tokens=_opt_int(usage, "prompt_tokens"),
            completion_tokens=_opt_int(usage, "completion_tokens"),
            finish_reason=None if finish is None else _FINISH_REASONS[finish],
            turns=_turns(data.get("turns")),
            malformed=malformed,
            token_interval_ms=_opt_int(data, "token_interval_ms"),
            stream_fault=fault,
            fault_after=_opt_int(data, "fault_after"),
        )

    def turn_entry(self, index: int) -> Directive | None:
        """The ``turns`` entry for turn ``index`` (past the end: the last), if any."""
        if self.turns is None:
            return None
        return self.turns[min(index, len(self.turns) - 1)]

    def overridden_by(self, entry: Directive) -> Directive:
        """This directive with ``entry``'s scripted fields taking precedence, without ``turns``."""
        changes = {name: value for name in _FIELDS if (value := getattr(entry, name)) is not None}
        return replace(self, **{**changes, "turns": None})


_FIELDS = tuple(field.name for field in fields(Directive))


def _opt(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    # bool is an int subclass; `"status": true` is a mistake, not status 1.
    if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
        raise DirectiveError(f"emulator directive field {key!r} has the wrong type")
    return value


def _opt_int(data: Mapping[str, Any], key: str) -> int | None:
    value: int | None = _opt(data, key, int)
    if value is not None and value < 0:
        raise DirectiveError(f"emulator directive field {key!r} must not be negative")
    return value


def _tool_calls(value: object) -> tuple[ToolCall, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise DirectiveError("emulator directive 'tool_calls' must be a list")
    calls = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise DirectiveError("each tool call needs a string 'name'")
        arguments = item.get("arguments", {})
        if not isinstance(arguments, dict):
            raise DirectiveError("tool call 'arguments' must be an object")
        calls.append(ToolCall(name=item["name"], arguments=arguments))
    return tuple(calls)


def _turns(value: object) -> tuple[Directive, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise DirectiveError("emulator directive 'turns' must be a non-empty list")
    entries = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise DirectiveError(f"emulator directive turns[{index}] must be an object")
        if "turns" in item:
            raise DirectiveError(f"emulator directive turns[{index}] must not hold 'turns'")
        try:
            entries.append(Directive.from_json(item))
        except DirectiveError as exc:
            raise DirectiveError(f"emulator directive turns[{index}]: {exc}") from exc
    return tuple(entries)


def _scan(text: str) -> Iterator[tuple[int, int, object]]:
    """Yield ``(start, end, decoded_json)`` for every directive in ``text``."""
    decoder = json.JSONDecoder()
    pos = 0
    while (start := text.find(DIRECTIVE_OPEN, pos)) != -1:
        # raw_decode rather than a regex: the JSON may itself contain ">>".
        body = _skip_space(text, start + len(DIRECTIVE_OPEN))
        try:
            value, end = decoder.raw_decode(text, body)
        except json.JSONDecodeError as exc:
            raise DirectiveError(f"invalid JSON in emulator directive: {exc.msg}") from exc
        end = _skip_space(text, end)
        if not text.startswith(DIRECTIVE_CLOSE, end):
            raise DirectiveError("emulator directive must end with '>>'")
        pos = end + len(DIRECTIVE_CLOSE)
        yield start, pos, value


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def strip_directives(text: str) -> str:
    """``text`` without directives, trimmed."""
    if DIRECTIVE_OPEN not in text:
        return text.strip()
    parts, pos = [], 0
    for start, end, _ in _scan(text):
        parts.append(text[pos:start])
        pos = end
    parts.append(text[pos:])
    return "".join(parts).strip()


def find_directive(texts: Iterable[str]) -> Directive | None:
    """The last directive in ``texts``; every directive found is validated."""
    found: Directive | None = None
    for text in texts:
        if DIRECTIVE_OPEN in text:
            for _, _, value in _scan(text):
                found = Directive.from_json(value)
    return found
