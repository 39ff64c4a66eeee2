"""Running one delivery of a job: claim it under a lease, run its kind, and record exactly
one outcome — or hand the job back to wait.

Duplicate deliveries are harmless: a job held by a live lease or already terminal is not
run again, and only the lease holder can finish, checkpoint or re-queue it, so a job
cancelled mid-call (or re-run after its worker was lost) keeps its first terminal state.

A completion is one model turn, or a tool loop of several (``tasks.loops.state``): each
turn waits for the instance's capacity (``tasks.loops.model_calls``) and is checkpointed, so a
re-delivered job resumes at the turn it had reached.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from redis.exceptions import RedisError

from gateway.errors import GatewayError, InvalidRequest, SessionNotFound
from providers.base import Provider
from providers.openai_format import chat_request_from_openai
from tasks.jobs.record import JobRecord, JobStatus, JobType
from tasks.jobs.sync_store import SessionAppend
from tasks.kinds.completion import JobOutcome, completion_outcome
from tasks.loops.fallbacks import RouteState
from tasks.loops.model_calls import ModelCalls, Turn
from tasks.loops.runner import LoopRun, LoopRunner
from tasks.loops.state import (
    LoopLimits,
    LoopState,
    gateway_tools,
    spent_fields,
    with_gateway_definitions,
)
from tasks.sessions.context import new_session_messages, session_prompt
from tasks.sessions.store import SyncSessionStore
from tools.executor import ToolExecutor
from tools.registry import ToolRegistry

log = structlog.get_logger(__name__)


class JobKind(Protocol):
    """A job kind run by another module (enhancement): runs one claimed delivery and
    records its outcome; raising a ``GatewayError`` fails the job."""

    def run(self, job: JobRecord, token: str) -> None: ...


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
        kinds: dict[JobType, Callable[[JobRunner], JobKind]] | None = None,
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
        self.loops = LoopRunner(calls, executor, tool_result_max_chars)
        # Kinds built on this runner's parts (their loops, calls and store).
        self.kinds = {kind: build(self) for kind, build in (kinds or {}).items()}

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
        elif job.type in self.kinds:
            self.kinds[job.type].run(job, token)
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
        run = LoopRun(
            job=job,
            token=token,
            route=route,
            instance=instance,
            # Before admission: a client built after it would delay the call past its slot
            # in the window, and a later, faster call could then share the provider's window.
            provider=self.provider_for(instance.name),
            prompt=prompt,
            request=parsed,
            limits=limits,
            price=price,
            ours=ours,
            save=lambda s: self.store.checkpoint(job.id, token, {"loop": s.to_record()}),
        )
        turn = self.loops.run(run, state)
        if turn is None:
            return
        try:
            self._finish_completion(job, token, state, turn, bool(ours))
        finally:
            # After the reply is recorded: a paid-for answer is kept even if this fails.
            self.calls.settle(turn)

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
