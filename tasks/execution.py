"""Running one delivery of a job: claim it under a lease, run its kind, and record exactly
one outcome — or hand the job back to wait.

Duplicate deliveries are harmless: a job held by a live lease or already terminal is not
run again, and only the lease holder can finish, checkpoint or re-queue it, so a job
cancelled mid-call (or re-run after its worker was lost) keeps its first terminal state.

A completion is one model turn, or a tool loop of several (``tasks.tool_loop``): each
turn waits for the instance's capacity (``tasks.model_calls``) and is checkpointed, so a
re-delivered job resumes at the turn it had reached.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog
from redis.exceptions import RedisError

from gateway.errors import (
    BudgetExhausted,
    GatewayError,
    InvalidRequest,
    MaxIterationsReached,
    SessionNotFound,
    ToolLoopStopped,
)
from providers.base import Provider
from providers.config import ModelPrice
from providers.openai_format import chat_request_from_openai, message_from_openai
from providers.types import ChatResponse
from tasks.completion import JobOutcome, completion_outcome
from tasks.model_calls import ModelCalls, Turn
from tasks.records import JobRecord, JobStatus, JobType
from tasks.routing import RouteState
from tasks.session_context import estimate_message_tokens, new_session_messages, session_prompt
from tasks.sessions import SyncSessionStore
from tasks.sync_store import SessionAppend
from tasks.tool_loop import (
    LoopLimits,
    LoopState,
    gateway_tools,
    parse_arguments,
    spent_fields,
    tool_choice_after,
    with_gateway_definitions,
)
from tools.executor import ToolExecutor
from tools.registry import ToolRegistry

log = structlog.get_logger(__name__)


class JobRunner:
    """Everything a delivery needs, passed in by the worker that owns it."""

    def __init__(
        self,
        *,
        calls: ModelCalls,
        provider_for: Callable[[str], Provider],
        tools: ToolRegistry,
        executor: ToolExecutor,
        sessions: SyncSessionStore,
        loop_defaults: LoopLimits,
        max_iterations_ceiling: int,
        tool_result_max_chars: int = 32_000,
        session_max_messages: int = 1000,
    ) -> None:
        self.calls = calls
        self.store = calls.store
        self.provider_for = provider_for
        self.tools = tools
        self.executor = executor
        self.sessions = sessions
        self.loop_defaults = loop_defaults
        self.max_iterations_ceiling = max_iterations_ceiling
        self.tool_result_max_chars = tool_result_max_chars
        self.session_max_messages = session_max_messages

    def run(self, job_id: str) -> None:
        """Run one delivery of ``job_id``."""
        token = uuid.uuid4().hex
        job, status = self.store.claim(job_id, token)
        if job is None:
            # Missing, terminal, or running under another live lease: nothing to do.
            log.info("delivery_ignored", job_id=job_id, status=status)
            return
        structlog.contextvars.bind_contextvars(job_id=job_id, request_id=job.request_id)
        with self.calls.in_flight.job(job_id, token):
            try:
                self._dispatch(job, token)
            except GatewayError as exc:
                self.calls.fail(job, token, exc.to_dict())
            except RedisError:
                # Not the job's fault: the delivery is put back (``run_delivery``), and the
                # lease reaper re-runs the job if this worker cannot record anything.
                raise
            except Exception:
                log.exception("job_crashed")
                error: dict[str, object] = {"type": "internal_error", "message": "internal error"}
                self.calls.fail(job, token, error)

    def _dispatch(self, job: JobRecord, token: str) -> None:
        if job.type is JobType.COMPLETION:
            self._run_completion(job, token)
        elif job.type is JobType.TOOL:
            self._run_tool(job, token)
        else:
            raise InvalidRequest(f"job type {job.type.value!r} is not supported yet", param="type")

    def _run_tool(self, job: JobRecord, token: str) -> None:
        name = str(job.request.get("name", ""))
        outcome = self.executor.run(name, job.request.get("arguments", {}))
        if not outcome.ok:
            self.calls.fail(job, token, dict(outcome.error or {}), attempts=1)
            return
        result = {"name": name, "output": outcome.output, "seconds": round(outcome.seconds, 4)}
        self._succeed(job, token, JobOutcome(result=result), outcome.seconds)

    def _prompt(self, job: JobRecord) -> list[dict[str, Any]]:
        """The request's messages, after the session's history when the job has one."""
        messages: list[dict[str, Any]] = list(job.request.get("messages", []))
        if not job.session_id:
            return messages
        session = self.sessions.load(job.session_id, job.tenant)
        if session is None:
            raise SessionNotFound(
                f"session {job.session_id[:64]!r} does not exist or has expired", param="session_id"
            )
        window = session_prompt(
            session.system, session.messages, messages, session.context_budget_tokens
        )
        if window.dropped:
            log.info("session_history_trimmed", dropped=window.dropped)
        return window.messages

    def _run_completion(self, job: JobRecord, token: str) -> None:
        state = LoopState.of(job.loop)
        try:
            self._run_turns(job, token, state)
        except GatewayError as exc:
            # What earlier turns spent stays on the failed record.
            self.calls.fail(job, token, exc.to_dict(), fields=spent_fields(state))

    def _run_turns(self, job: JobRecord, token: str, state: LoopState) -> None:
        route = RouteState.of(job)
        instance = self.calls.instances.get(route.current.instance)
        if instance is None:
            raise InvalidRequest(f"provider instance {route.current.instance!r} is not configured")
        if state.prompt is not None:
            prompt = state.prompt
        else:
            prompt = self._prompt(job)
            if job.session_id:
                state.prompt = prompt
        parsed = with_gateway_definitions(chat_request_from_openai(job.request), self.tools)
        limits = LoopLimits.of(job.request, self.loop_defaults, self.max_iterations_ceiling)
        price = instance.prices.get(route.current.model)
        limits = limits.priced(price is not None, instance.name, route.current.model)
        ours = gateway_tools(parsed, self.tools)
        # Before admission: a client built after it would delay the call past its slot in
        # the window, and a later, faster call could then share the provider's window.
        provider = self.provider_for(instance.name)
        while True:
            if state.pending and not self._run_tools(job, token, state):
                return
            messages = prompt + state.produced
            reason = state.over_budget(limits, estimate_message_tokens(messages))
            if reason:
                self._stop(job, token, state, BudgetExhausted(reason, param="tool_loop"))
                return
            request = replace(
                parsed,
                model=instance.upstream_model(route.current.model),
                messages=tuple(message_from_openai(m) for m in messages),
                tool_choice=tool_choice_after(parsed.tool_choice, state.iterations),
            )
            turn = self.calls.call(job, token, route, provider, request, spent_fields(state))
            if turn is None:
                return  # handed back to wait, moved to a fallback, or failed
            try:
                if not self._after_reply(job, token, state, turn, limits, ours, price):
                    return
            finally:
                # After the reply is recorded: a paid-for answer is kept even if this fails.
                self.calls.settle(turn)

    def _after_reply(
        self,
        job: JobRecord,
        token: str,
        state: LoopState,
        turn: Turn,
        limits: LoopLimits,
        ours: frozenset[str],
        price: ModelPrice | None,
    ) -> bool:
        """Record a model reply: the job's answer, a stop at a limit, or a checkpointed
        tool-call turn. True when the loop goes on to run the tools."""
        response = turn.response
        usage = response.usage
        state.spend(
            response, price.cost(usage.prompt_tokens, usage.completion_tokens) if price else None
        )
        calls = response.message.tool_calls
        if not calls or not all(c.name in ours for c in calls):
            # An answer, or calls the client must run: the job is done either way.
            self._finish_completion(job, token, state, turn, bool(ours))
            return False
        stop = self._limit(state, limits)
        state.add_tool_turn(response)
        if stop is not None:
            self._stop(job, token, state, stop, response)
            return False
        return self._checkpoint(job, token, state)

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

    def _run_tools(self, job: JobRecord, token: str, state: LoopState) -> bool:
        """Run the pending round's tools concurrently and checkpoint the results; False if
        the job is no longer ours."""
        pending = state.pending_calls()
        outcomes = self.executor.run_many([(c.name, parse_arguments(c)) for c in pending])
        state.add_results(pending, outcomes, self.tool_result_max_chars)
        failed = [o.name for o in outcomes if not o.ok]
        log.info("tool_round", round=state.iterations, calls=len(pending), failed=failed)
        return self._checkpoint(job, token, state)

    def _checkpoint(self, job: JobRecord, token: str, state: LoopState) -> bool:
        saved = self.store.checkpoint(job.id, token, {"loop": state.to_record()})
        if not saved:
            log.info("checkpoint_refused", reason="lease lost or job finished")
        return saved

    def _finish_completion(
        self, job: JobRecord, token: str, state: LoopState, turn: Turn, looped: bool
    ) -> None:
        response = turn.response
        outcome = completion_outcome(response, job.model or "", None)
        result = outcome.result
        result["provider"] = turn.instance.name
        if looped:
            result["tool_loop"] = state.summary()
        totals = JobOutcome(result=result, usage=state.usage_dict(), cost_usd=state.cost_usd)
        session = None
        if job.session_id:
            produced = [*state.produced, result["message"]]
            session = SessionAppend(
                job.session_id,
                job.tenant,
                new_session_messages(list(job.request.get("messages", [])), produced),
                self.session_max_messages,
            )
        self._succeed(job, token, totals, turn.seconds, session)

    def _stop(
        self,
        job: JobRecord,
        token: str,
        state: LoopState,
        error: ToolLoopStopped,
        last: ChatResponse | None = None,
    ) -> None:
        """End the loop at a limit: failed, with what was spent and the last reply kept."""
        fields = spent_fields(state, always=True)
        if last is not None:
            fields["result"] |= {"message": state.produced[-1], "finish_reason": last.finish_reason}
        self.calls.fail(job, token, error.to_dict(), attempts=1, fields=fields)

    def _succeed(
        self,
        job: JobRecord,
        token: str,
        outcome: JobOutcome,
        seconds: float,
        session: SessionAppend | None = None,
    ) -> None:
        moved, current = self.store.finish(
            job.id,
            token,
            JobStatus.SUCCEEDED,
            attempts_increment=1,
            fields={
                "result": outcome.result,
                "usage": outcome.usage,
                "cost_usd": outcome.cost_usd,
                "error": None,
                "finished_at": time.time(),
            },
            session=session,
        )
        if moved:
            log.info("job_succeeded", seconds=round(seconds, 4), usage=outcome.usage)
        else:
            log.info("job_result_discarded", status=current)
