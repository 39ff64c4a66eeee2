"""``PipelineState``: an enhancement job's checkpoint (the record's ``pipeline`` field).

It holds the conversation of the finished steps, the running step's tool loop, and what
each step produced and spent; it is saved after every model reply and tool round, so a
re-delivered job resumes at the turn it had reached and never pays twice for a step.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from providers.openai_format import message_to_openai
from providers.types import ChatResponse, Usage
from tasks.kinds.enhancement.steps import GATHER
from tasks.loops.state import LoopState


@dataclass(slots=True, kw_only=True)
class PipelineState:
    """Where an enhancement is, and everything it has produced so far."""

    step: str = GATHER
    prompt: str = ""
    document: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    loop: LoopState = field(default_factory=LoopState)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    checks: list[dict[str, Any]] | None = None
    step_started: float = field(default_factory=time.time)
    # The job's failures when the running step began: each step gets the whole retry
    # budget (three steps that each recover from one 503 must not fail the job).
    failures_base: int = 0

    @classmethod
    def of(cls, checkpoint: Mapping[str, Any] | None) -> PipelineState:
        if not checkpoint:
            return cls()
        return cls(
            step=str(checkpoint.get("step", GATHER)),
            prompt=str(checkpoint.get("prompt", "")),
            document=checkpoint.get("document"),
            messages=list(checkpoint.get("messages", [])),
            loop=LoopState.of(checkpoint.get("loop")),
            steps=dict(checkpoint.get("steps", {})),
            answers=dict(checkpoint.get("answers", {})),
            checks=checkpoint.get("checks"),
            step_started=float(checkpoint.get("step_started", time.time())),
            failures_base=int(checkpoint.get("failures_base", 0)),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "prompt": self.prompt,
            "document": self.document,
            "messages": self.messages,
            "loop": self.loop.to_record(),
            "steps": self.steps,
            "answers": self.answers,
            "checks": self.checks,
            "step_started": self.step_started,
            "failures_base": self.failures_base,
        }

    def end_step(self, response: ChatResponse, next_step: str, next_user: str | None) -> None:
        """Close the running step with the model's answer and start ``next_step``."""
        loop = self.loop
        self.messages += [*loop.produced, message_to_openai(response.message)]
        self.answers[self.step] = response.message.text
        self.steps[self.step] = {
            "usage": loop.usage_dict(),
            "cost_usd": loop.cost_usd,
            "iterations": loop.iterations,
            "tool_calls": len(loop.calls),
            "failed_tool_calls": sum(1 for c in loop.calls if not c.ok),
            "seconds": round(time.time() - self.step_started, 3),
        }
        self.start(next_step, next_user)

    def start(self, step: str, user: str | None) -> None:
        """Begin ``step``, with its user message when it talks to the model."""
        self.step = step
        self.loop = LoopState()
        self.step_started = time.time()
        if user is not None:
            self.messages.append({"role": "user", "content": user})

    def usage(self) -> Usage:
        """Every step's tokens, the running one included."""
        total = Usage(self.loop.usage.prompt_tokens, self.loop.usage.completion_tokens)
        for summary in self.steps.values():
            used = summary["usage"]
            total = total + Usage(used["prompt_tokens"], used["completion_tokens"])
        return total

    def cost_usd(self) -> float | None:
        costs = [s["cost_usd"] for s in self.steps.values() if s.get("cost_usd") is not None]
        if self.loop.cost_usd is not None:
            costs.append(self.loop.cost_usd)
        return round(sum(costs), 8) if costs else None

    def tool_contents(self) -> list[str]:
        """What every tool call returned, as the model saw it."""
        produced = [*self.messages, *self.loop.produced]
        return [str(m.get("content") or "") for m in produced if m.get("role") == "tool"]


def chunk_sources(contents: Iterable[str]) -> dict[str, str]:
    """chunk id → source, for every chunk object in tool results that parse as JSON."""
    found: dict[str, str] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            chunk_id, source = value.get("chunk_id"), value.get("source")
            if isinstance(chunk_id, str) and isinstance(source, str):
                found.setdefault(chunk_id, source)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for text in contents:
        try:
            walk(orjson.loads(text))
        except orjson.JSONDecodeError:
            continue  # truncated: its ids still count (``returned_chunk_ids``), sources not
    return found
