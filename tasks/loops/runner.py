"""``LoopRunner``: model turns and tool rounds under the instance's capacity, until the
model answers. Completions run one loop per job; an enhancement runs one per step.

Each reply is checkpointed before its tools run, and each round of results after, through
the caller's ``save`` (the checkpoint's place in the record differs by job kind), so a
re-delivered job resumes at the turn it had reached (see ``tasks.loops.state``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

import structlog

from gateway.errors import BudgetExhausted, MaxIterationsReached, ToolLoopStopped
from providers.base import Provider
from providers.config import InstanceConfig
from providers.openai_format import message_from_openai
from providers.pricing import Price
from providers.types import ChatRequest, ChatResponse
from tasks.jobs import stream
from tasks.jobs.record import JobRecord
from tasks.loops.fallbacks import RouteState
from tasks.loops.model_calls import ModelCalls, Turn
from tasks.loops.state import (
    LoopLimits,
    LoopState,
    parse_arguments,
    spent_fields,
    tool_choice_after,
)
from tasks.sessions.context import estimate_message_tokens
from tools.executor import ToolExecutor

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopRun:
    """One loop's fixed inputs. ``prompt`` comes before what the loop produces; ``ours``
    are the tools the gateway runs (any other tool call ends the loop, for the client)."""

    job: JobRecord
    token: str
    route: RouteState
    instance: InstanceConfig
    provider: Provider
    prompt: list[dict[str, Any]]
    request: ChatRequest
    limits: LoopLimits
    price: Price | None
    ours: frozenset[str]
    # Checkpoints the state; False once the job is no longer ours.
    save: Callable[[LoopState], bool]
    # Record fields a failure keeps (what was spent); default: this loop's spending.
    spent: Callable[[LoopState, bool], dict[str, Any]] = lambda s, always: spent_fields(
        s, always=always
    )
    # At ``max_iterations`` ask for an answer (tool_choice "none") instead of failing.
    answer_at_limit: bool = False
    # Replies and tool rounds go to the job's stream as they happen (``tasks.jobs.stream``).
    stream: bool = False
    # The answer's reply is recorded as paid for with the job's finish, by the caller
    # (``ModelCalls.call``'s ``pay_later``); a reply that does not end the loop is paid
    # for here. For a loop without gateway tools, whose first reply is its answer.
    pay_with_answer: bool = False


class _Step(Enum):
    ANSWER = "answer"
    TOOLS = "tools"
    ENDED = "ended"


class LoopRunner:
    """Runs tool loops; the caller records the answer."""

    def __init__(self, calls: ModelCalls, executor: ToolExecutor, result_max_chars: int) -> None:
        self.calls = calls
        self.executor = executor
        self.result_max_chars = result_max_chars

    def run(self, run: LoopRun, state: LoopState) -> Turn | None:
        """The turn that ends the loop — an answer, or tool calls the gateway does not run
        — with its capacity still held (and, with ``pay_with_answer``, its reply not yet
        recorded as paid for): the caller records it, then ``calls.settle``s it.
        None once the job was handed back, moved, failed, or stopped at a limit."""
        model = run.instance.upstream_model(run.route.current.model)
        while True:
            if state.pending and not self._run_tools(run, state):
                return None
            messages = run.prompt + state.produced
            reason = state.over_budget(run.limits, estimate_message_tokens(messages))
            if reason:
                self._stop(run, state, BudgetExhausted(reason, param="tool_loop"))
                return None
            choice = tool_choice_after(run.request.tool_choice, state.iterations)
            if run.answer_at_limit and state.iterations >= run.limits.max_iterations:
                choice = "none"
            request = replace(
                run.request,
                model=model,
                messages=tuple(message_from_openai(m) for m in messages),
                tool_choice=choice,
            )
            turn = self.calls.call(
                run.job,
                run.token,
                run.route,
                run.provider,
                request,
                run.spent(state, False),
                stream=run.stream,
                turn=state.iterations,
                pay_later=run.pay_with_answer,
            )
            if turn is None:
                return None  # handed back to wait, moved to a fallback, or failed
            step = _Step.ENDED
            try:
                step = self._after_reply(run, state, turn)
                if step is _Step.ANSWER:
                    return turn
            finally:
                if step is not _Step.ANSWER:
                    try:
                        self.calls.pay(turn)
                    finally:
                        self.calls.settle(turn)
            if step is _Step.ENDED:
                return None

    def _after_reply(self, run: LoopRun, state: LoopState, turn: Turn) -> _Step:
        """Count a reply: an answer ends the loop; tool calls are checkpointed, or the
        loop stops at a limit (the job failed) or because the job is no longer ours."""
        response = turn.response
        usage = response.usage
        price = run.price
        state.spend(
            response, price.cost(usage.prompt_tokens, usage.completion_tokens) if price else None
        )
        calls = response.message.tool_calls
        if not calls or not all(c.name in run.ours for c in calls):
            return _Step.ANSWER
        stop = self._limit(state, run.limits)
        state.add_tool_turn(response)
        if stop is not None:
            self._stop(run, state, stop, response)
            return _Step.ENDED
        if not run.save(state):
            log.info("checkpoint_refused", reason="lease lost or job finished")
            return _Step.ENDED
        return _Step.TOOLS

    def _limit(self, state: LoopState, limits: LoopLimits) -> ToolLoopStopped | None:
        """The limit that keeps the model's latest tool calls from running, if any."""
        if state.iterations >= limits.max_iterations:
            return MaxIterationsReached(
                f"the model still called tools after {state.iterations} tool rounds "
                f"(max_iterations {limits.max_iterations})",
                param="tool_loop.max_iterations",
            )
        reason = state.over_budget(limits)
        return BudgetExhausted(reason, param="tool_loop") if reason else None

    def _run_tools(self, run: LoopRun, state: LoopState) -> bool:
        """Run the pending round's tools concurrently and checkpoint the results; False if
        the job is no longer ours."""
        pending = state.pending_calls()
        outcomes = self.executor.run_many(
            [(c.name, parse_arguments(c)) for c in pending], call_ids=[c.id for c in pending]
        )
        state.add_results(pending, outcomes, self.result_max_chars)
        failed = [o.name for o in outcomes if not o.ok]
        log.info("tool_round", round=state.iterations, calls=len(pending), failed=failed)
        if run.stream:
            progress = [(c.id, o.name, o.ok) for c, o in zip(pending, outcomes, strict=True)]
            event = stream.encode(stream.tool_results_event(progress))
            if not self.calls.store.append_stream(run.job.id, run.token, [event]):
                log.info("checkpoint_refused", reason="lease lost or job finished")
                return False
        if not run.save(state):
            log.info("checkpoint_refused", reason="lease lost or job finished")
            return False
        return True

    def _stop(
        self,
        run: LoopRun,
        state: LoopState,
        error: ToolLoopStopped,
        last: ChatResponse | None = None,
    ) -> None:
        """End the loop at a limit: failed, with what was spent and the last reply kept."""
        fields = run.spent(state, True)
        if last is not None:
            fields["result"] = (fields.get("result") or {}) | {
                "message": state.produced[-1],
                "finish_reason": last.finish_reason,
            }
        self.calls.fail(run.job, run.token, error.to_dict(), fields=fields)
