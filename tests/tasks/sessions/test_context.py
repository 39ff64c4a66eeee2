"""A session job's context window (``tasks.sessions.context``): what history fits the budget,
what is never dropped, and what a job appends to its session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from limits.capacity import estimate_tokens
from providers.openai_format import chat_request_from_openai
from tasks.sessions.context import (
    message_chars,
    new_session_messages,
    session_prompt,
)

Message = dict[str, Any]


def padded(label: str, tokens: int) -> str:
    """``label`` padded with dots to exactly ``tokens`` estimated tokens (4 chars each)."""
    return label.ljust(tokens * 4, ".")


def say(role: str, label: str, tokens: int = 1) -> Message:
    return {"role": role, "content": padded(label, tokens)}


def user(label: str, tokens: int = 1) -> Message:
    return say("user", label, tokens)


def answer(label: str, tokens: int = 1) -> Message:
    return say("assistant", label, tokens)


def system(label: str, tokens: int = 1) -> Message:
    return say("system", label, tokens)


def calls(call_id: str, tokens: int = 2) -> Message:
    """An assistant turn calling one tool: name ``lookup`` (6 chars) + padded arguments."""
    function = {"name": "lookup", "arguments": "{}".ljust(tokens * 4 - 6)}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": function}],
    }


def result(call_id: str, tokens: int = 2) -> Message:
    return {"role": "tool", "tool_call_id": call_id, "content": padded(f"r-{call_id}", tokens)}


def label(message: Message) -> str:
    if message.get("tool_calls"):
        return str(message["tool_calls"][0]["id"])
    content = message["content"]
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content)
    return str(content).rstrip(".")


IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/" + "i" * 400}}


@dataclass(frozen=True)
class Case:
    id: str
    history: list[Message]
    request: list[Message]
    budget: int
    expected: list[str]
    dropped: int
    system: str | None = None


CASES = [
    Case(
        "everything fits exactly at the budget",
        history=[user("u1"), answer("a1")],
        request=[user("u2")],
        budget=3,
        expected=["u1", "a1", "u2"],
        dropped=0,
    ),
    Case(
        "one token over drops the oldest turn",
        history=[user("u1"), answer("a1"), user("u2"), answer("a2")],
        request=[user("u3")],
        budget=4,
        expected=["u2", "a2", "u3"],
        dropped=2,
    ),
    Case(
        "as many oldest turns as needed are dropped",
        history=[
            user("u1"),
            answer("a1", 2),
            user("u2"),
            answer("a2", 2),
            user("u3"),
            answer("a3"),
        ],
        request=[user("u4")],
        budget=3,
        expected=["u3", "a3", "u4"],
        dropped=4,
    ),
    Case(
        "a tool call leaves together with its results and the turn's answer",
        # Dropping only the tool result would fit (9 - 2 = 7); the whole turn goes instead.
        history=[user("u1"), calls("c1"), result("c1"), answer("a1"), user("u2"), answer("a2")],
        request=[user("u3")],
        budget=7,
        expected=["u2", "a2", "u3"],
        dropped=4,
    ),
    Case(
        "a tool turn that fits is kept whole",
        history=[user("u1"), calls("c1"), result("c1"), answer("a1"), user("u2"), answer("a2")],
        request=[user("u3")],
        budget=9,
        expected=["u1", "c1", "r-c1", "a1", "u2", "a2", "u3"],
        dropped=0,
    ),
    Case(
        "system prompts and the request survive an impossible budget, history systems in place",
        system="S",
        history=[user("u1", 2), system("h"), answer("a1", 2), user("u2"), answer("a2")],
        request=[system("r"), user("u3")],
        budget=1,
        expected=["S", "r", "h", "u3"],
        dropped=4,
    ),
    Case(
        "the request alone over budget is still sent whole",
        history=[user("u1"), answer("a1")],
        request=[user("u2", 10), answer("a2"), user("u3")],
        budget=5,
        expected=["u2", "a2", "u3"],
        dropped=2,
    ),
    Case(
        "the session system prompt counts against the budget",
        system=padded("S", 2),
        history=[user("u1"), answer("a1")],
        request=[user("u2")],
        budget=4,
        expected=["S", "u2"],
        dropped=2,
    ),
    Case(
        "list content counts its text parts, not its images",
        history=[
            {"role": "user", "content": [{"type": "text", "text": padded("u1", 2)}, IMAGE]},
            answer("a1"),
        ],
        request=[user("u2")],
        budget=4,
        expected=["u1", "a1", "u2"],
        dropped=0,
    ),
    Case(
        "list content over budget is dropped like any other",
        history=[{"role": "user", "content": [{"type": "text", "text": padded("u1", 2)}, IMAGE]}],
        request=[user("u2")],
        budget=2,
        expected=["u2"],
        dropped=1,
    ),
    Case(
        "tool results cut off from their call by the history cap are dropped",
        history=[result("c0"), answer("a0"), user("u1"), answer("a1")],
        request=[user("u2")],
        budget=100,
        expected=["u1", "a1", "u2"],
        dropped=2,
    ),
    Case(
        "a history opening with an assistant greeting keeps it",
        history=[answer("hi"), user("u1"), answer("a1")],
        request=[user("u2")],
        budget=100,
        expected=["hi", "u1", "a1", "u2"],
        dropped=0,
    ),
    Case(
        "no history: the request as given",
        history=[],
        request=[system("r"), user("u1")],
        budget=1,
        expected=["r", "u1"],
        dropped=0,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_session_prompt(case: Case) -> None:
    prompt = session_prompt(case.system, case.history, case.request, case.budget)
    assert [label(m) for m in prompt.messages] == case.expected
    assert prompt.dropped == case.dropped


def test_session_system_prompt_is_a_system_message_first() -> None:
    prompt = session_prompt("be terse", [user("u1")], [system("r"), user("u2")], 100)
    assert prompt.messages[0] == {"role": "system", "content": "be terse"}
    assert prompt.messages[1] == system("r")


def test_estimate_matches_the_limiters_estimate() -> None:
    """The budget is measured the way ``limits.capacity`` reserves tokens."""
    history = [
        user("question about the weather"),
        calls("c1", 5),
        result("c1", 3),
        {"role": "user", "content": [{"type": "text", "text": "look at this"}, IMAGE]},
        answer("a long considered answer", 7),
    ]
    request = [user("and tomorrow?")]
    prompt = session_prompt("You are helpful.", history, request, 10_000)
    parsed = chat_request_from_openai({"model": "m", "messages": prompt.messages})
    assert prompt.estimated_tokens == estimate_tokens(parsed, reply_estimate=0)


@pytest.mark.parametrize(
    ("message", "chars"),
    [
        (user("u", 3), 12),
        ({"role": "assistant", "content": None}, 0),
        ({"role": "user", "content": [{"type": "text", "text": "abc"}, IMAGE]}, 3),
        (calls("c1", 4), 16),  # "lookup" + 10 chars of arguments
        (result("c1", 2), 8),
        ({"role": "user", "content": 42}, 0),  # malformed content counts nothing, no crash
    ],
)
def test_message_chars(message: Message, chars: int) -> None:
    assert message_chars(message) == chars


def test_inputs_are_not_modified() -> None:
    history = [user("u1"), answer("a1")]
    request = [user("u2")]
    before = (list(history), list(request))
    session_prompt("S", history, request, 1)
    assert (history, request) == before


def test_new_session_messages_are_the_request_turn_then_what_the_job_produced() -> None:
    request = [system("r"), user("u1"), answer("a1"), user("u2")]
    produced = [calls("c1"), result("c1"), answer("done")]
    appended = new_session_messages(request, produced)
    assert [label(m) for m in appended] == ["u1", "a1", "u2", "c1", "r-c1", "done"]


def test_developer_messages_count_as_system() -> None:
    developer = {"role": "developer", "content": "rules"}
    prompt = session_prompt(None, [user("u1", 5)], [developer, user("u2")], 1)
    assert prompt.messages == [developer, user("u2")]
    assert new_session_messages([developer, user("u2")], []) == [user("u2")]


def _call(call_id: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }


def test_tool_calls_nobody_answered_are_left_out() -> None:
    history = [{"role": "user", "content": "q"}, _call("c1")]
    prompt = session_prompt(None, history, [{"role": "user", "content": "next"}], 10_000)
    assert [m["role"] for m in prompt.messages] == ["user", "user"]


def test_calls_the_request_answers_stay_even_over_budget() -> None:
    history = [{"role": "user", "content": "x" * 4000}, _call("c1")]
    answer = [{"role": "tool", "tool_call_id": "c1", "content": "done"}]
    prompt = session_prompt(None, history, answer, 10)
    assert [m["role"] for m in prompt.messages] == ["user", "assistant", "tool"]
