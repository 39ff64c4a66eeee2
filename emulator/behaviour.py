"""Protocol-neutral request model (:class:`Turn`) and reply decision (:class:`Decision`).

Every protocol module turns its wire request into a :class:`Turn`; :func:`decide`
applies the chosen directive (see :mod:`emulator.directives`) without knowing
any wire format.

Default replies
---------------
Without a ``reply`` the answer is ``"echo: " + <last user message text>``;
when tool results follow the last user message it is ``"tool results: " +
<results joined by "; ">``. A request that forces a tool gets a call to it (its
input an instance of the tool's schema), one that asks for an output format a reply in
it (:mod:`emulator.structured_output`). Directives are stripped (and the remaining text
trimmed) before anything is echoed. A directive with ``turns`` is first
reduced to the entry for :attr:`Turn.index` merged over the outer fields.

Token counting
--------------
Deliberately simple and deterministic: ``ceil(chars / 4)``.

* prompt tokens: all text of the request (system prompt, message text, tool
  result text) with directives stripped; tool definitions, tool-call arguments
  and non-text parts (images, ...) are not counted.
* completion tokens: the reply text plus, for each tool call, its name and its
  compact JSON arguments.
"""

from __future__ import annotations

import http
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.directives import (
    Directive,
    FinishReason,
    Malformation,
    StreamFault,
    ToolCall,
    strip_directives,
)
from emulator.structured_output import OutputFormat, reply_for

CHARS_PER_TOKEN = 4
#: The message of a scripted mid-stream error without its own ``error`` text.
STREAM_FAULT_MESSAGE = "the model's output stream failed (emulated)"


def count_tokens(chars: int) -> int:
    """Token count for ``chars`` characters under the emulator's rule."""
    return math.ceil(chars / CHARS_PER_TOKEN)


@dataclass(frozen=True, slots=True)
class Turn:
    """A generation request, reduced to what the decision needs.

    ``texts`` holds every text fragment in conversation order (raw, directives
    included); ``tool_results`` the tool result texts that follow the last user
    message; ``index`` the number of assistant messages after it (the position
    in a tool loop, which picks a directive's ``turns`` entry). ``body`` keeps
    the parsed wire request for protocol-specific rendering options (e.g.
    OpenAI ``stream_options``).
    """

    model: str
    texts: tuple[str, ...]
    last_user_text: str
    tool_results: tuple[str, ...] = ()
    index: int = 0
    stream: bool = False
    body: Mapping[str, Any] = field(default_factory=dict)
    # The output format the request asked for, in any vendor's spelling.
    output: OutputFormat | None = None
    # The tool the request forces the model to call (Anthropic's tool_choice "tool",
    # Converse's toolChoice.tool): the reply calls it, its input shaped by ``output``.
    forced_tool: str | None = None

    def prompt_tokens(self) -> int:
        """Prompt tokens under the module's counting rule."""
        return count_tokens(sum(len(strip_directives(text)) for text in self.texts))


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An HTTP error to send instead of a completion."""

    status: int
    message: str
    retry_after: float | None = None

    def headers(self) -> dict[str, str]:
        """Extra response headers (``retry-after`` when scripted)."""
        if self.retry_after is None:
            return {}
        seconds = self.retry_after
        return {"retry-after": str(int(seconds)) if seconds.is_integer() else str(seconds)}


@dataclass(frozen=True, slots=True)
class Decision:
    """What to answer: text and/or tool calls, or an error. ``malformed`` breaks the
    successful answer on the way out (see :mod:`emulator.malformed`); ``stream_fault``
    breaks a streamed one after ``fault_after`` chunks (see :mod:`emulator.streaming`)."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: ErrorReply | None = None
    latency_ms: int | None = None
    malformed: Malformation | None = None
    token_interval_ms: int | None = None
    stream_fault: StreamFault | None = None
    fault_after: int | None = None
    fault_message: str = STREAM_FAULT_MESSAGE


def decide(turn: Turn, directive: Directive | None) -> Decision:
    """Apply ``directive`` (scripted or in-text, already chosen) to ``turn``."""
    d = directive or Directive()
    entry = d.turn_entry(turn.index)
    if entry is not None:
        d = d.overridden_by(entry)
    if d.status is not None:
        message = d.error or f"{_reason(d.status)} (emulated)"
        return Decision(error=ErrorReply(d.status, message, d.retry_after), latency_ms=d.latency_ms)
    # Plain tool calls stop once results arrive (so loops end); a turn entry's own always fire.
    own_calls = entry is not None and entry.tool_calls is not None
    calls: tuple[ToolCall, ...] = ()
    text: str | None
    if d.tool_calls and (own_calls or not turn.tool_results):
        text, calls = d.reply, d.tool_calls
    elif turn.tool_results:
        results = "; ".join(map(strip_directives, turn.tool_results))
        text = d.reply if d.reply is not None else "tool results: " + results
    elif d.reply is not None:
        text = d.reply
    elif turn.forced_tool is not None:
        reply = reply_for(turn.output or OutputFormat(), strip_directives(turn.last_user_text))
        arguments = json.loads(reply)
        if not isinstance(arguments, dict):  # a tool's input is always an object
            arguments = {}
        text, calls = None, (ToolCall(turn.forced_tool, arguments),)
    elif turn.output is not None:
        text = reply_for(turn.output, strip_directives(turn.last_user_text))
    else:
        text = "echo: " + strip_directives(turn.last_user_text)
    completion_chars = len(text or "") + sum(len(c.name) + len(c.arguments_json) for c in calls)
    return Decision(
        text=text,
        tool_calls=calls,
        finish_reason=d.finish_reason or ("tool_calls" if calls else "stop"),
        prompt_tokens=turn.prompt_tokens() if d.prompt_tokens is None else d.prompt_tokens,
        completion_tokens=(
            count_tokens(completion_chars) if d.completion_tokens is None else d.completion_tokens
        ),
        latency_ms=d.latency_ms,
        malformed=d.malformed,
        token_interval_ms=d.token_interval_ms,
        stream_fault=d.stream_fault,
        fault_after=d.fault_after,
        fault_message=d.error or STREAM_FAULT_MESSAGE,
    )


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:  # e.g. Anthropic's 529, unknown to the stdlib
        return "Error"
