"""``tasks.loops.state``: limits from the request, the checkpoint's round trip, budgets, and
which of a request's tools the gateway runs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import InvalidRequest
from providers.openai_format import chat_request_from_openai
from providers.types import ChatResponse, Message, TextPart, ToolCall, Usage
from tasks.loops.state import (
    LoopLimits,
    LoopState,
    gateway_tools,
    parse_arguments,
    tool_choice_after,
    with_gateway_definitions,
)
from tools.executor import ToolOutcome
from tools.registry import Tool, ToolRegistry

DEFAULTS = LoopLimits(max_iterations=8)
SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}


def registry() -> ToolRegistry:
    tools = ToolRegistry()
    tools.register(Tool("lookup", "Look it up.", SCHEMA, runner=lambda args: args["q"]))
    return tools


def reply(*calls: ToolCall, usage: Usage | None = None) -> ChatResponse:
    return ChatResponse(
        message=Message(role="assistant", content=(TextPart("thinking"),), tool_calls=calls),
        finish_reason="tool_calls" if calls else "stop",
        usage=usage or Usage(10, 5),
        model="m",
    )


def test_limits_default_when_the_request_sets_none() -> None:
    assert LoopLimits.of({}, DEFAULTS, 50) == DEFAULTS


def test_limits_from_the_request_override_the_defaults() -> None:
    raw = {"tool_loop": {"max_iterations": 3, "max_total_tokens": 900, "max_cost_usd": 0.5}}
    assert LoopLimits.of(raw, DEFAULTS, 50) == LoopLimits(3, 900, 0.5, strict_cost=True)


@pytest.mark.parametrize(
    ("tool_loop", "param"),
    [
        ({"max_iterations": 0}, "tool_loop.max_iterations"),
        ({"max_iterations": 51}, "tool_loop.max_iterations"),
        ({"max_iterations": True}, "tool_loop.max_iterations"),
        ({"max_iterations": 2.5}, "tool_loop.max_iterations"),
        ({"max_total_tokens": -1}, "tool_loop.max_total_tokens"),
        ({"max_cost_usd": "1"}, "tool_loop.max_cost_usd"),
        ({"max_turns": 1}, "tool_loop"),
        ([1], "tool_loop"),
    ],
)
def test_bad_limits_name_the_field(tool_loop: object, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        LoopLimits.of({"tool_loop": tool_loop}, DEFAULTS, 50)
    assert caught.value.param == param


def test_checkpoint_round_trips_through_the_record() -> None:
    state = LoopState()
    call = ToolCall("call_1", "lookup", '{"q": "x"}')
    state.spend(reply(call), 0.25)
    state.add_tool_turn(reply(call))
    assert state.pending_calls() == (call,)
    state.add_results([call], [ToolOutcome("lookup", True, "x", None, 0.01)], 1000)

    again = LoopState.of(state.to_record())
    assert again.to_record() == state.to_record()
    assert again.iterations == 1
    assert not again.pending
    assert again.usage == Usage(10, 5)
    assert again.cost_usd == 0.25
    assert [m["role"] for m in again.produced] == ["assistant", "tool"]
    tool_message = again.produced[1]
    assert (tool_message["role"], tool_message["tool_call_id"]) == ("tool", "call_1")
    assert json.loads(tool_message["content"]) == {"output": "x"}


def test_a_checkpoint_written_before_the_tools_ran_resumes_with_them_pending() -> None:
    state = LoopState()
    call = ToolCall("call_9", "lookup", '{"q": "y"}')
    state.add_tool_turn(reply(call))
    assert LoopState.of(state.to_record()).pending_calls() == (call,)


def test_long_tool_results_are_truncated_with_a_note() -> None:
    state = LoopState()
    call = ToolCall("c", "lookup", "{}")
    state.add_tool_turn(reply(call))
    state.add_results([call], [ToolOutcome("lookup", True, "z" * 5000, None, 0.0)], 1000)
    content = state.produced[-1]["content"]
    assert len(content) == 1000
    assert content.endswith("1000 kept]")


@pytest.mark.parametrize(
    ("limits", "usage", "cost", "next_prompt", "stops"),
    [
        (LoopLimits(8, 100), Usage(60, 30), None, 0, False),
        (LoopLimits(8, 100), Usage(60, 30), None, 20, True),
        (LoopLimits(8, 100), Usage(80, 30), None, 0, True),
        (LoopLimits(8, None, 0.01), Usage(1, 1), 0.009, 0, False),
        (LoopLimits(8, None, 0.01), Usage(1, 1), 0.01, 0, True),
        (LoopLimits(8), Usage(10**9, 0), 1e6, 10**9, False),
    ],
)
def test_budget(
    limits: LoopLimits, usage: Usage, cost: float | None, next_prompt: int, stops: bool
) -> None:
    state = LoopState()
    state.spend(reply(usage=usage), cost)
    assert (state.over_budget(limits, next_prompt) is not None) is stops


def test_only_listed_registered_tools_are_the_gateways() -> None:
    tools: list[dict[str, Any]] = [
        {"type": "function", "function": {"name": "lookup"}},
        {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}},
    ]
    request = chat_request_from_openai(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools}
    )
    assert gateway_tools(request, registry()) == {"lookup"}
    filled = with_gateway_definitions(request, registry())
    assert filled.tools[0].parameters == SCHEMA
    assert filled.tools[0].description == "Look it up."
    assert filled.tools[1] == request.tools[1]


def test_arguments_that_are_not_json_are_passed_on_for_the_registry_to_refuse() -> None:
    assert parse_arguments(ToolCall("c", "lookup", '{"q": 1}')) == {"q": 1}
    assert parse_arguments(ToolCall("c", "lookup", "")) == {}
    assert parse_arguments(ToolCall("c", "lookup", "{oops")) == "{oops"


def test_a_zero_cost_budget_is_spent_before_anything_is() -> None:
    reason = LoopState().over_budget(LoopLimits(8, None, 0.0))
    assert reason is not None and "$0" in reason


def test_a_default_cost_budget_does_not_apply_where_there_is_no_price() -> None:
    default = LoopLimits(8, None, 0.5)
    assert default.priced(False, "local", "m").max_cost_usd is None
    assert default.priced(True, "local", "m") == default
    own = LoopLimits.of({"tool_loop": {"max_cost_usd": 0.5}}, DEFAULTS, 50)
    with pytest.raises(InvalidRequest) as caught:
        own.priced(False, "local", "m")
    assert caught.value.param == "tool_loop.max_cost_usd"


@pytest.mark.parametrize(
    ("choice", "rounds", "expected"),
    [
        ("required", 0, "required"),
        ("required", 1, "auto"),
        ("lookup", 2, "auto"),
        ("none", 1, "none"),
        (None, 3, None),
    ],
)
def test_a_forced_tool_choice_holds_for_the_first_turn_only(
    choice: str | None, rounds: int, expected: str | None
) -> None:
    assert tool_choice_after(choice, rounds) == expected
