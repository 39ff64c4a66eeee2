"""A session job's context window: which stored history goes into the prompt, and what the
job adds to the history when it finishes. Pure functions over OpenAI-format message dicts.

Tokens are estimated as ``limits.capacity.estimate_tokens`` does: characters / 4 over
text content, tool-call names and arguments, and tool results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from limits.capacity import CHARS_PER_TOKEN

SYSTEM_ROLES = frozenset({"system", "developer"})

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SessionPrompt:
    """The messages to send, how many history messages were left out to fit the budget,
    and the prompt's estimated size (it may exceed the budget: the provider decides)."""

    messages: list[Message]
    dropped: int
    estimated_tokens: int


def message_chars(message: Message) -> int:
    """Characters that count towards a message's tokens; images and unknown parts count 0."""
    chars = _content_chars(message.get("content"))
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            chars += sum(
                len(v) for k in ("name", "arguments") if isinstance(v := function.get(k), str)
            )
    return chars


def _content_chars(content: object) -> int:
    if isinstance(content, str):
        return len(content)
    if not isinstance(content, list):
        return 0
    return sum(
        len(part["text"])
        for part in content
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    )


def estimate_message_tokens(messages: Sequence[Message]) -> int:
    """The prompt-side estimate for ``messages`` (characters / 4, rounded up)."""
    return math.ceil(sum(message_chars(m) for m in messages) / CHARS_PER_TOKEN)


def is_system(message: Message) -> bool:
    return message.get("role") in SYSTEM_ROLES


def _turns(history: Sequence[Message]) -> list[list[Message]]:
    """History cut before every user message: a turn is a user message and everything up
    to the next one (assistant tool calls, their tool results, the answer). Whatever comes
    before the first user message is a turn of its own."""
    turns: list[list[Message]] = []
    for message in history:
        if not turns or message.get("role") == "user":
            turns.append([])
        turns[-1].append(message)
    return turns


def _is_cut_fragment(turn: Sequence[Message]) -> bool:
    """A leading turn whose first non-system message is a tool result: the stored-history
    cap cut its tool call off, and a tool result with no call is rejected by providers."""
    first = next((m for m in turn if not is_system(m)), None)
    return first is not None and first.get("role") == "tool"


def session_prompt(
    system: str | None,
    history: Sequence[Message],
    request_messages: Sequence[Message],
    budget_tokens: int,
) -> SessionPrompt:
    """The messages a session's job sends: the session's system prompt, the request's own
    system messages, as much history as fits ``budget_tokens``, the request's other messages.

    Whole turns are dropped, oldest first, so a tool call is never separated from its
    results. System messages (the history's too, in place) and the request's messages are
    never dropped; if they alone exceed the budget, the prompt is sent anyway.
    """
    head: list[Message] = [{"role": "system", "content": system}] if system else []
    head += [m for m in request_messages if is_system(m)]
    tail = [m for m in request_messages if not is_system(m)]
    history = _answered_only(history, _result_ids([*history, *tail]))

    turns = _turns(history)
    dropped: set[int] = set()  # indexes of turns whose non-system messages are left out
    if turns and _is_cut_fragment(turns[0]):
        dropped.add(0)
    # A turn whose calls the request answers (the client ran them) must stay with it.
    pinned = {i for i, turn in enumerate(turns) if _call_ids(turn) & _result_ids(tail)}
    droppable = [sum(message_chars(m) for m in turn if not is_system(m)) for turn in turns]
    chars = sum(message_chars(m) for m in (*head, *tail, *history))
    chars -= sum(droppable[i] for i in dropped)
    for index in range(len(turns)):
        if math.ceil(chars / CHARS_PER_TOKEN) <= budget_tokens:
            break
        if index not in dropped and index not in pinned:
            dropped.add(index)
            chars -= droppable[index]

    kept: list[Message] = []
    for index, turn in enumerate(turns):
        kept += [m for m in turn if index not in dropped or is_system(m)]
    return SessionPrompt(
        messages=[*head, *kept, *tail],
        dropped=len(history) - len(kept),
        estimated_tokens=math.ceil(chars / CHARS_PER_TOKEN),
    )


def _call_ids(messages: Sequence[Message]) -> set[str]:
    calls = (c for m in messages if isinstance(m.get("tool_calls"), list) for c in m["tool_calls"])
    return {c["id"] for c in calls if isinstance(c, dict) and isinstance(c.get("id"), str)}


def _result_ids(messages: Sequence[Message]) -> set[str]:
    return {str(m.get("tool_call_id")) for m in messages if m.get("role") == "tool"}


def _answered_only(history: Sequence[Message], answered: set[str]) -> list[Message]:
    """``history`` without tool calls nobody answered (a job handed them to its client,
    which never sent the results): providers refuse a call with no result after it."""
    out: list[Message] = []
    for message in history:
        calls = message.get("tool_calls")
        if not isinstance(calls, list) or not calls:
            out.append(message)
            continue
        kept = [c for c in calls if isinstance(c, dict) and c.get("id") in answered]
        if len(kept) == len(calls):
            out.append(message)
        elif kept or message.get("content"):
            out.append({**message, "tool_calls": kept} if kept else _without_calls(message))
    return out


def _without_calls(message: Message) -> Message:
    return {k: v for k, v in message.items() if k != "tool_calls"}


def new_session_messages(
    request_messages: Sequence[Message], produced: Sequence[Message]
) -> list[Message]:
    """What a finished job appends to its session: the request's non-system messages, then
    the messages the job produced (assistant tool-call turns, tool results, the answer)."""
    return [*(m for m in request_messages if not is_system(m)), *produced]
