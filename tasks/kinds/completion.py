"""The ``completion`` job kind: one model turn, or a tool loop of several
(``tasks.loops.state``), after the session's history when the job has one; and what a
finished chat completion writes back.

Each turn waits for the instance's capacity (``tasks.loops.model_calls``) and is
checkpointed, so a re-delivered job resumes at the turn it had reached.
"""

from __future__ import annotations

from typing import Any

import structlog

from gateway.errors import GatewayError, InvalidRequest, SessionNotFound
from providers.openai_format import chat_request_from_openai, message_to_openai
from providers.pricing import Price, price_for
from providers.registry import capabilities_of
from providers.types import ChatResponse
from tasks.cache.store import SyncResponseCache
from tasks.documents.resolver import DocumentResolver, has_documents
from tasks.jobs.record import JobRecord, JobType
from tasks.jobs.sync_store import SessionAppend
from tasks.kinds.base import JobOutcome, ModelParts, record_success
from tasks.loops.fallbacks import RouteState
from tasks.loops.model_calls import Turn
from tasks.loops.runner import LoopRun
from tasks.loops.state import (
    LoopLimits,
    LoopState,
    gateway_tools,
    spent_fields,
    with_gateway_definitions,
)
from tasks.sessions.context import new_session_messages, session_prompt
from tasks.sessions.store import SyncSessionStore

log = structlog.get_logger(__name__)


class CompletionKind:
    """Runs ``completion`` jobs: the loop's limits are the request's, within the
    gateway's defaults and ceiling."""

    kind = JobType.COMPLETION

    def __init__(
        self,
        *,
        parts: ModelParts,
        sessions: SyncSessionStore,
        loop_defaults: LoopLimits,
        max_iterations_ceiling: int,
        session_max_messages: int = 1000,
        documents: DocumentResolver | None = None,
        cache: SyncResponseCache | None = None,
    ) -> None:
        self.parts = parts
        # Where an answer whose job asked for it is cached (``tasks.cache``).
        self.cache = cache
        # Reads the prompt's ``document`` parts before the first turn (tasks.documents).
        self.documents = documents
        self.sessions = sessions
        self.loop_defaults = loop_defaults
        self.max_iterations_ceiling = max_iterations_ceiling
        self.session_max_messages = session_max_messages

    def run(self, job: JobRecord, token: str) -> None:
        state = LoopState.of(job.loop)
        try:
            self._run_turns(job, token, state)
        except GatewayError as exc:
            # What earlier turns spent stays on the failed record.
            self.parts.calls.fail(job, token, exc.to_dict(), fields=spent_fields(state))

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

    def _run_turns(self, job: JobRecord, token: str, state: LoopState) -> None:
        parts = self.parts
        route = RouteState.of(job)
        instance = parts.calls.instances.get(route.current.instance)
        if instance is None:
            raise InvalidRequest(f"provider instance {route.current.instance!r} is not configured")
        if state.prompt is not None:
            prompt = state.prompt
        else:
            prompt = self._prompt(job)
            if self.documents is not None and has_documents(prompt):
                # Once per job: the read prompt is checkpointed with the loop, so later
                # turns and a re-delivered job reuse it.
                native = self._documents_everywhere(job, route)
                prompt = self.documents.resolve(job.tenant, prompt, native=native)
                state.prompt = prompt
            elif job.session_id:
                state.prompt = prompt
        parsed = with_gateway_definitions(chat_request_from_openai(job.request), parts.tools)
        limits = LoopLimits.of(job.request, self.loop_defaults, self.max_iterations_ceiling)
        price = price_for(instance, route.current.model)
        limits = limits.priced(price is not None, instance.name, route.current.model)
        ours = gateway_tools(parsed, parts.tools)
        run = LoopRun(
            job=job,
            token=token,
            route=route,
            instance=instance,
            # Before admission: a client built after it would delay the call past its slot
            # in the window, and a later, faster call could then share the provider's window.
            # (A claim that admitted the call came first: the worker built its instances'
            # clients at start-up, so this is a look-up.)
            provider=parts.provider_for(instance.name),
            prompt=prompt,
            request=parsed,
            limits=limits,
            price=price,
            ours=ours,
            save=lambda s: parts.store.checkpoint(job.id, token, {"loop": s.to_record()}),
            stream=job.stream == "1",
            # A plain completion's one reply is paid for in its finish's script: one round
            # trip fewer. A session's finish appends to it in its own script instead.
            pay_with_answer=not ours and job.stream != "1" and not job.session_id,
        )
        turn = parts.loops.run(run, state)
        if turn is None:
            return
        paid = False
        try:
            paid = self._finish(job, token, state, turn, bool(ours))
        finally:
            try:
                if not paid:  # the finish never ran, or its reply was lost: pay on its own
                    parts.calls.pay(turn)
            finally:
                # After the reply is recorded: a paid-for answer is kept even if this fails.
                # A finish that paid for the reply released its call in the same step.
                if not paid or turn.unpaid is None:
                    parts.calls.settle(turn)

    def _documents_everywhere(self, job: JobRecord, route: RouteState) -> bool:
        """Whether every instance the job may run on (its fallbacks included) takes
        documents: the prompt is read once, so a native document must not reach a
        fallback that refuses it; otherwise every document goes as its text."""
        calls = self.parts.calls
        hint = job.request.get("provider")
        try:
            candidates = calls.planner.candidates(
                route.current, hint if isinstance(hint, str) else None
            )
        except GatewayError:
            return False
        return all(
            c.instance in calls.instances and capabilities_of(calls.instances[c.instance]).documents
            for c in candidates
        )

    def _finish(
        self, job: JobRecord, token: str, state: LoopState, turn: Turn, looped: bool
    ) -> bool:
        """Record the answer; True once its reply is recorded as paid for with it."""
        response = turn.response
        outcome = completion_outcome(response, job.model or "", None)
        result = outcome.result
        result["provider"] = turn.instance.name
        if looped:
            result["tool_loop"] = state.summary()
        totals = JobOutcome(result=result, usage=state.usage_dict(), cost_usd=state.cost_usd)
        if job.cache_key and job.cache_ttl and not looped and self.cache is not None:
            # Before the job is marked done: a repeat sent once the answer is out finds it.
            self.cache.store(job.cache_key, job.cache_ttl, result, totals.usage)
        session = None
        if job.session_id:
            produced = [*state.produced, result["message"]]
            session = SessionAppend(
                job.session_id,
                job.tenant,
                new_session_messages(list(job.request.get("messages", [])), produced),
                self.session_max_messages,
            )
        # A plain answer's finish also releases its call: one round trip fewer.
        release = (
            self.parts.calls.settlement(turn)
            if turn.unpaid is not None and session is None
            else None
        )
        record_success(
            self.parts.store, job, token, totals, turn.seconds, session, turn.unpaid, release
        )
        return True


def completion_outcome(
    response: ChatResponse, requested_model: str, price: Price | None = None
) -> JobOutcome:
    """The record fields for a finished completion, with its cost when the price is known."""
    usage = response.usage
    cost = price.cost(usage.prompt_tokens, usage.completion_tokens) if price else None
    return JobOutcome(
        cost_usd=round(cost, 8) if cost is not None else None,
        result={
            "message": message_to_openai(response.message),
            "finish_reason": response.finish_reason,
            "model": requested_model,
            "upstream_model": response.model,
            "provider_response_id": response.provider_response_id,
        }
        | ({"logprobs": dict(response.logprobs)} if response.logprobs is not None else {}),
        usage=usage.as_dict(),
    )
