"""The tool loop of a completion job: what the model asked for, what to do next, and the
checkpoint that lets a re-delivered job resume where it was.

A request opts in by listing registered gateway tools in its ``tools`` (a function tool
whose name the registry knows; its description and schema come from the registry). When
the model calls only such tools, the worker runs them and calls the model again with
the results, until the model answers or a limit is hit:

- ``max_iterations``: tool rounds. Reached with the model still calling tools, the job
  fails with ``max_iterations_reached``.
- ``max_total_tokens`` / ``max_cost_usd``: the job's budget over every turn. Spent (or
  the next turn's prompt would overspend it), the job fails with ``budget_exhausted``.

Both keep what was spent and done (usage, cost, the last reply) on the record. A model
that calls any tool the request did not list as a gateway tool gets its calls returned to
the client, as OpenAI does.

The checkpoint (the record's ``loop`` field) holds every message the loop produced,
written after each model reply and again after its tool results, so a redelivered job
never pays again for a turn whose reply was saved (only a crash between a reply and its
checkpoint write can cost one turn twice); tools whose results were not saved run again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.settings import Settings
from providers.openai_format import message_to_openai
from providers.types import (
    ChatRequest,
    ChatResponse,
    ToolCall,
    ToolChoice,
    ToolDefinition,
    Usage,
)
from tools.executor import ToolOutcome
from tools.registry import ToolRegistry


@dataclass(frozen=True, slots=True)
class LoopLimits:
    """A job's tool-loop limits: its own, or the gateway's defaults."""

    max_iterations: int
    max_total_tokens: int | None = None
    max_cost_usd: float | None = None
    # The request set the cost budget itself: enforce it or refuse, never drop it.
    strict_cost: bool = False

    @classmethod
    def defaults(cls, settings: Settings) -> LoopLimits:
        """The limits of a request that sets none."""
        return cls(
            max_iterations=settings.tool_loop_max_iterations,
            max_total_tokens=settings.tool_loop_max_total_tokens,
            max_cost_usd=settings.tool_loop_max_cost_usd,
        )

    @classmethod
    def of(cls, request: Mapping[str, Any], defaults: LoopLimits, ceiling: int) -> LoopLimits:
        """The limits in ``request["tool_loop"]``; ``InvalidRequest`` names a bad one."""
        raw = request.get("tool_loop")
        if raw is None:
            return defaults
        if not isinstance(raw, Mapping):
            raise InvalidRequest("tool_loop must be an object", param="tool_loop")
        unknown = sorted(set(raw) - {"max_iterations", "max_total_tokens", "max_cost_usd"})
        if unknown:
            raise InvalidRequest(f"unknown tool_loop field {unknown[0]!r}", param="tool_loop")
        iterations = _number(raw, "max_iterations", int, 1, ceiling)
        tokens = _number(raw, "max_total_tokens", int, 1, None)
        cost = _number(raw, "max_cost_usd", float, 0.0, None)
        return cls(
            max_iterations=defaults.max_iterations if iterations is None else int(iterations),
            max_total_tokens=defaults.max_total_tokens if tokens is None else int(tokens),
            max_cost_usd=defaults.max_cost_usd if cost is None else float(cost),
            strict_cost=cost is not None,
        )

    def priced(self, has_price: bool, instance: str, model: str) -> LoopLimits:
        """These limits on an instance with or without a price for the model. Without one a
        cost budget cannot be kept: the request's own is refused; the gateway's default
        does not apply there (the token budget still does)."""
        if self.max_cost_usd is None or has_price:
            return self
        if self.strict_cost:
            raise InvalidRequest(
                f"instance {instance!r} has no price for model {model!r}, so the cost budget "
                "cannot be enforced; use tool_loop.max_total_tokens instead",
                param="tool_loop.max_cost_usd",
            )
        return replace(self, max_cost_usd=None)


def _number(
    raw: Mapping[str, Any], name: str, kind: type, low: float, high: float | None
) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    ok = isinstance(value, int | float) if kind is float else isinstance(value, int)
    if isinstance(value, bool) or not ok or value < low or (high is not None and value > high):
        bound = f" and at most {high:g}" if high is not None else ""
        kind_name = "a number" if kind is float else "an integer"
        raise InvalidRequest(
            f"tool_loop.{name} must be {kind_name} of at least {low:g}{bound}",
            param=f"tool_loop.{name}",
        )
    return float(value)


def gateway_tools(request: ChatRequest, registry: ToolRegistry) -> frozenset[str]:
    """The request's tools that the gateway runs itself."""
    return frozenset(t.name for t in request.tools if t.name in registry)


def with_gateway_definitions(request: ChatRequest, registry: ToolRegistry) -> ChatRequest:
    """``request`` with each gateway tool described by the registry (the client may list
    it by name alone)."""
    if not any(t.name in registry for t in request.tools):
        return request
    tools = tuple(
        ToolDefinition(t.name, registry.get(t.name).description, registry.get(t.name).parameters)
        if t.name in registry
        else t
        for t in request.tools
    )
    return replace(request, tools=tools)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One tool call the loop ran, as the job record shows it."""

    id: str
    name: str
    ok: bool
    error_type: str | None
    seconds: float

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "ok": self.ok,
            "error_type": self.error_type,
            "seconds": round(self.seconds, 4),
        }


@dataclass(slots=True)
class LoopState:
    """What the loop has produced and spent so far; stored as the record's ``loop``."""

    produced: list[dict[str, Any]] = field(default_factory=list)
    iterations: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    calls: list[CallRecord] = field(default_factory=list)
    # The last produced message is a tool-call turn whose results are not in yet.
    pending: bool = False
    # A session job's prompt as its first turn built it (history included): a resumed
    # loop goes on from the same conversation, whatever other jobs appended since.
    prompt: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, checkpoint: Mapping[str, Any] | None) -> LoopState:
        if not checkpoint:
            return cls()
        usage = checkpoint.get("usage", {})
        return cls(
            produced=list(checkpoint.get("produced", [])),
            iterations=int(checkpoint.get("iterations", 0)),
            usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
            cost_usd=checkpoint.get("cost_usd"),
            calls=[CallRecord(**c) for c in checkpoint.get("calls", [])],
            pending=bool(checkpoint.get("pending", False)),
            prompt=checkpoint.get("prompt"),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "produced": self.produced,
            "iterations": self.iterations,
            "usage": self.usage_dict(),
            "cost_usd": self.cost_usd,
            "calls": [
                {
                    "id": c.id,
                    "name": c.name,
                    "ok": c.ok,
                    "error_type": c.error_type,
                    "seconds": c.seconds,
                }
                for c in self.calls
            ],
            "pending": self.pending,
            "prompt": self.prompt,
        }

    def usage_dict(self) -> dict[str, int]:
        return self.usage.as_dict()

    def summary(self) -> dict[str, Any]:
        """The loop as a result shows it: rounds and calls, not the messages."""
        return {"iterations": self.iterations, "calls": [c.public() for c in self.calls]}

    def spend(self, response: ChatResponse, cost: float | None) -> None:
        """Count one model turn's usage and cost."""
        self.usage = self.usage + response.usage
        if cost is not None:
            self.cost_usd = round((self.cost_usd or 0.0) + cost, 8)

    def add_tool_turn(self, response: ChatResponse) -> None:
        """The model's tool-call turn, before its tools run."""
        self.produced.append(message_to_openai(response.message))
        self.pending = True

    def add_results(
        self, calls: Sequence[ToolCall], outcomes: Sequence[ToolOutcome], max_chars: int
    ) -> None:
        """The tool results for the pending turn; one tool message per call, in order."""
        for call, outcome in zip(calls, outcomes, strict=True):
            self.produced.append(
                {"role": "tool", "tool_call_id": call.id, "content": _clip(outcome, max_chars)}
            )
            error_type = str(outcome.error.get("type")) if outcome.error else None
            self.calls.append(
                CallRecord(call.id, call.name, outcome.ok, error_type, outcome.seconds)
            )
        self.iterations += 1
        self.pending = False

    def pending_calls(self) -> tuple[ToolCall, ...]:
        """The calls of a checkpointed tool-call turn whose results were not stored."""
        if not self.pending or not self.produced:
            return ()
        return tuple(
            ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in self.produced[-1].get("tool_calls", [])
        )

    def over_budget(self, limits: LoopLimits, next_prompt_tokens: int = 0) -> str | None:
        """Why the budget stops the loop, or None."""
        spent, cost = self.usage.total_tokens, self.cost_usd or 0.0
        budget = limits.max_total_tokens
        if budget is not None and (spent >= budget or spent + next_prompt_tokens > budget):
            return f"the token budget of {budget} is spent ({spent} used" + (
                f", the next turn needs about {next_prompt_tokens})" if next_prompt_tokens else ")"
            )
        if limits.max_cost_usd is not None and cost >= limits.max_cost_usd:
            return f"the cost budget of ${limits.max_cost_usd:g} is spent (${cost:g} used)"
        return None


def _clip(outcome: ToolOutcome, max_chars: int) -> str:
    content = outcome.as_content()
    if len(content) <= max_chars:
        return content
    note = f"... [truncated: {len(content)} characters, {max_chars} kept]"
    return content[: max(max_chars - len(note), 0)] + note


def tool_choice_after(choice: ToolChoice | None, rounds: int) -> ToolChoice | None:
    """The request's ``tool_choice`` for a turn after ``rounds`` tool rounds. A forced choice
    ("required" or a named function) applies to the first turn only; kept, the model could
    never answer and every loop would end at ``max_iterations``."""
    if rounds == 0 or choice in (None, "auto", "none"):
        return choice
    return "auto"


def spent_fields(state: LoopState, *, always: bool = False) -> dict[str, Any]:
    """Record fields for a loop that ends without an answer: what its turns spent, and its
    rounds. Empty before anything was spent, unless ``always``."""
    if not always and not state.usage.total_tokens and not state.calls:
        return {}
    return {
        "usage": state.usage_dict(),
        "cost_usd": state.cost_usd,
        "result": {"tool_loop": state.summary()},
    }


def parse_arguments(call: ToolCall) -> object:
    """The model's arguments as JSON; a string that is not JSON is passed as-is, so the
    registry reports it as invalid arguments to the model."""
    try:
        return orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        return call.arguments
