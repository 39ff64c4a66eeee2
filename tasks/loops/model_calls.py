"""One model turn of a job (or an embedding job's embed): wait for the instance's
capacity, call it, and turn a provider failure into the right next step — a fallback, a
backoff, or a failed job.

An *attempt* is a provider call, counted on the record before it is made (in the same
script as its admission, ``limits/scripts/acquire_attempt.lua``, or for a job's first
call its claim, ``tasks.loops.first_calls``), and every reply
is recorded as paid for at once (``tasks.jobs.job_scripts``). Waiting for capacity is not
an attempt. The retry budget counts *failures*: a 429, a 5xx or a timeout, and waiting
out an open circuit (no call is made). Untried fallbacks are always used before giving
up; after that the job backs off and retries until ``max_attempts`` have failed.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog

from gateway.errors import InvalidRequest, ProviderError, ProviderRateLimited, ProviderUnavailable
from limits.capacity import (
    Admission,
    NotHeld,
    Outcome,
    ProviderCapacity,
    RequestTooLarge,
    estimate_embedding_tokens,
    estimate_tokens,
    wait_order,
)
from limits.capacity_scripts import ReleaseCall
from providers.base import Provider, TokenCounter
from providers.config import InstanceConfig
from providers.embeddings import EmbeddingRequest, EmbeddingResponse
from providers.pricing import price_for
from providers.types import ChatRequest, ChatResponse
from tasks.jobs.in_flight import InFlight
from tasks.jobs.job_scripts import PaidReply
from tasks.jobs.messages import TaskMessageBuilder
from tasks.jobs.record import JobRecord, JobStatus
from tasks.jobs.sync_store import SyncJobStore
from tasks.loops.call_metrics import CallMetrics
from tasks.loops.call_spans import provider_call
from tasks.loops.fallbacks import Candidate, FallbackPlanner, RouteState
from tasks.loops.first_calls import FirstCalls
from tasks.loops.streamed_calls import LeaseLost, StreamedCall

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    # A 429 without retry-after still cools the instance down for this long.
    rate_limit_cooldown_seconds: float = 1.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter; a provider's ``retry-after`` wins if longer."""
        ceiling = min(self.backoff_max_seconds, self.backoff_seconds * 2 ** max(attempt - 1, 0))
        return max(random.uniform(ceiling / 2, ceiling), retry_after or 0.0)


@dataclass(frozen=True, slots=True)
class Turn:
    """A model reply, and the capacity it holds until ``ModelCalls.settle``."""

    response: ChatResponse
    admission: Admission
    instance: InstanceConfig
    seconds: float
    # The reply, not yet recorded as paid for (``ModelCalls.call``'s ``pay_later``): the
    # caller records it with the job's finish, or ``ModelCalls.pay``s it.
    unpaid: PaidReply | None = None


@dataclass(frozen=True, slots=True)
class EmbeddingTurn:
    """Vectors, and the capacity they hold until ``ModelCalls.settle``."""

    response: EmbeddingResponse
    admission: Admission
    instance: InstanceConfig
    seconds: float


@dataclass(frozen=True, slots=True)
class ModelCalls:
    """Provider calls under global capacity, with fallbacks and retries."""

    store: SyncJobStore
    instances: dict[str, InstanceConfig]
    capacity: ProviderCapacity
    planner: FallbackPlanner
    retry: RetryPolicy
    in_flight: InFlight
    # How long a job may sleep in its worker slot for capacity before handing it back.
    wait_in_slot_seconds: float = 0.5
    messages: TaskMessageBuilder = field(default_factory=TaskMessageBuilder)
    # This process's call metrics (served on the worker's metrics port, if any).
    metrics: CallMetrics = field(default_factory=CallMetrics)
    # Verdicts on jobs' first calls, judged with their claims (none: each call is
    # admitted on its own).
    first_calls: FirstCalls | None = None

    def call(
        self,
        job: JobRecord,
        token: str,
        route: RouteState,
        provider: Provider,
        request: ChatRequest,
        spent: dict[str, Any] | None = None,
        *,
        stream: bool = False,
        turn: int = 0,
        pay_later: bool = False,
    ) -> Turn | None:
        """One call of ``request`` (already naming the upstream model) on the route's
        instance; None once the job has been handed back, moved, or failed. ``spent``: record
        fields a failure keeps (what earlier turns of the job spent). ``stream``: the reply
        goes to the job's stream as it is produced (``tasks.loops.streamed_calls``), marked as
        model turn ``turn`` of the job. ``pay_later`` (not streamed): the reply is returned
        as the turn's ``unpaid`` instead of being recorded as paid for at once, so that the
        caller records it with the job's finish, in one round trip; the caller must then
        record it, one way or the other, whatever happens (``pay``)."""
        instance = self.instances[route.current.instance]
        tokens = estimate_tokens(request, instance.limits.reply_tokens_estimate)
        admission = self._admit(job, token, instance, request, route, spent, tokens)
        if admission is None:
            return None
        started = calling = time.perf_counter()
        with self.in_flight.call(admission):
            try:
                model = route.current.model
                calling = time.perf_counter()
                with provider_call(job, instance, route, request, stream=stream) as span:
                    if stream:
                        response = StreamedCall(self.store).run(
                            job.id,
                            token,
                            provider,
                            request,
                            attempt=job.attempts + 1,
                            turn=turn,
                            instance=instance.name,
                            first_event=lambda s: self.metrics.first_token(instance, model, s),
                        )
                    else:
                        response = provider.complete(request)
                    span.replied(response)
                self.metrics.call(instance, model, "ok", time.perf_counter() - calling)
                bill = self._bill(job, route, instance, response)
                unpaid = bill if pay_later and not stream else None
                if unpaid is None:
                    self.store.paid_reply(bill)
            except LeaseLost:
                # Cancelled or taken over mid-stream: what was used is unknown, so the
                # reservation stands; the record belongs to whoever holds the job now.
                self.capacity.release(instance, admission, Outcome.OK, tokens_used=None)
                log.info("stream_stopped", reason="the job is no longer this worker's")
                return None
            except ProviderError as exc:
                self._observe_failure(instance, route, exc, calling)
                self._release_failed(instance, admission, exc)
                self._provider_failed(job, token, route, request, exc, spent)
                return None
            except BaseException:
                self.capacity.release(instance, admission, Outcome.NEUTRAL)
                raise
        return Turn(response, admission, instance, time.perf_counter() - started, unpaid)

    def embed(
        self,
        job: JobRecord,
        token: str,
        route: RouteState,
        provider: Provider,
        request: EmbeddingRequest,
    ) -> EmbeddingTurn | None:
        """One ``embed`` of ``request`` (already naming the upstream model) on the route's
        instance, under its capacity like a chat turn (the texts' token estimate, settled
        to what the provider counted); None once the job has been handed back, moved, or
        failed. One attempt, however many upstream calls the vendor's batch size needs."""
        instance = self.instances[route.current.instance]
        tokens = estimate_embedding_tokens(request)
        admission = self._admit(job, token, instance, request, route, None, tokens)
        if admission is None:
            return None
        started = calling = time.perf_counter()
        with self.in_flight.call(admission):
            try:
                calling = time.perf_counter()
                with provider_call(job, instance, route, request) as span:
                    response = provider.embed(request)
                    span.replied(response)
                self.metrics.call(
                    instance, route.current.model, "ok", time.perf_counter() - calling
                )
                self.store.paid_reply(self._bill(job, route, instance, response))
            except ProviderError as exc:
                self._observe_failure(instance, route, exc, calling)
                self._release_failed(instance, admission, exc)
                self._provider_failed(job, token, route, request, exc, None)
                return None
            except BaseException:
                self.capacity.release(instance, admission, Outcome.NEUTRAL)
                raise
        return EmbeddingTurn(response, admission, instance, time.perf_counter() - started)

    def count(
        self,
        job: JobRecord,
        token: str,
        route: RouteState,
        counter: TokenCounter,
        request: ChatRequest,
    ) -> int | None:
        """The vendor's count of ``request``'s input tokens, one call under the route's
        instance's capacity (a request slot, no tokens: nothing is generated); None once
        the job has been handed back, moved, or failed."""
        instance = self.instances[route.current.instance]
        admission = self._admit(job, token, instance, request, route, None, 1)
        if admission is None:
            return None
        calling = time.perf_counter()
        with self.in_flight.call(admission):
            try:
                calling = time.perf_counter()
                with provider_call(job, instance, route, request, count=True) as span:
                    counted = counter.count_tokens(request)
                    span.counted(counted)
                self.metrics.call(
                    instance, route.current.model, "ok", time.perf_counter() - calling
                )
            except ProviderError as exc:
                self._observe_failure(instance, route, exc, calling)
                self._release_failed(instance, admission, exc)
                self._provider_failed(job, token, route, request, exc, None)
                return None
            except BaseException:
                self.capacity.release(instance, admission, Outcome.NEUTRAL)
                raise
        self.capacity.release(instance, admission, Outcome.OK, tokens_used=0)
        return counted

    def _bill(
        self,
        job: JobRecord,
        route: RouteState,
        instance: InstanceConfig,
        response: ChatResponse | EmbeddingResponse,
    ) -> PaidReply:
        """The reply's usage and cost, to record on the job whether or not the job is still
        ours: a reply that cannot be used is still paid for."""
        usage = response.usage
        price = price_for(instance, route.current.model)
        cost = price.cost(usage.prompt_tokens, usage.completion_tokens) if price else None
        reply = PaidReply(
            job_id=job.id,
            tenant=job.tenant,
            instance=instance.name,
            model=route.current.model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=None if cost is None else round(cost, 8),
            reply_id=uuid.uuid4().hex,
        )
        return reply

    def pay(self, turn: Turn) -> None:
        """Record a ``pay_later`` turn's reply as paid for, if its finish did not (again is
        harmless: a reply is counted once by its id)."""
        if turn.unpaid is not None:
            self.store.paid_reply(turn.unpaid)

    def settle(self, turn: Turn | EmbeddingTurn) -> None:
        """Release the turn's capacity, settling its tokens to what the reply used. Called
        after the reply is recorded: a paid-for answer is kept even if this fails."""
        used = turn.response.usage.total_tokens
        # No usage reported: keep the reservation rather than pretend nothing was spent.
        self.capacity.release(turn.instance, turn.admission, Outcome.OK, tokens_used=used or None)

    def settlement(self, turn: Turn | EmbeddingTurn) -> ReleaseCall:
        """``settle``'s release, for a finish that runs it in its own round trip. Running
        it twice (the finish's reply lost, then ``settle``) changes nothing: the slot is
        freed once and the tokens are set, not added."""
        used = turn.response.usage.total_tokens or None
        return self.capacity.settlement(turn.instance, turn.admission, tokens_used=used)

    def _admit(
        self,
        job: JobRecord,
        token: str,
        instance: InstanceConfig,
        request: ChatRequest | EmbeddingRequest,
        route: RouteState,
        spent: dict[str, Any] | None,
        tokens: int,
    ) -> Admission | None:
        """Capacity for one call (``tokens`` reserved), counted as the job's attempt in the
        same step (a worker killed mid-call leaves it counted); None once the job has been
        handed back, or is no longer ours (cancelled, or taken over after this worker lost
        its lease: then nothing was taken, and no call is made)."""
        order = wait_order(job.priority, job.created_at)
        entered = time.monotonic()
        deadline = entered + self.wait_in_slot_seconds
        first_calls = self.first_calls
        claimed = first_calls.take(job.id, token, instance, tokens) if first_calls else None
        while True:
            try:
                verdict = claimed or self.capacity.acquire_attempt(
                    instance, job.id, order, tokens, lease=token
                )
                claimed = None
            except RequestTooLarge as exc:
                self.metrics.limiter_rejections.labels(instance.name, "too_large").inc()
                # This instance can never take it; another candidate may.
                fallback = self.planner.next_untried(route, request)
                if fallback is None:
                    raise InvalidRequest(str(exc)) from None
                self._fall_back(job, token, route, fallback, failures=0)
                return None
            if isinstance(verdict, NotHeld):
                log.info("call_skipped", reason="lease lost or job finished", status=verdict.status)
                return None
            if isinstance(verdict, Admission):
                self.metrics.limiter_wait.labels(instance.name).observe(time.monotonic() - entered)
                return verdict
            self.metrics.limiter_rejections.labels(instance.name, verdict.reason).inc()
            if verdict.reason in ("cooldown", "circuit_open", "circuit_probing"):
                fallback = self.planner.next_untried(route, request)
                if fallback is not None:
                    self._fall_back(job, token, route, fallback, failures=0)
                    log.info("fallback_used", reason=verdict.reason, to=fallback.instance)
                    return None
            if verdict.reason == "circuit_open":
                # Counted as an attempt, so a provider that stays down fails its jobs in
                # bounded time instead of holding them forever. The job leaves the line:
                # a freed slot must not wake it before the circuit's reset time.
                self.capacity.forget(instance.name, job.id)
                error = ProviderUnavailable(f"provider instance {instance.name!r} is failing")
                self._retry_or_fail(job, token, route, error, verdict.seconds, spent)
                return None
            if time.monotonic() + verdict.seconds <= deadline:
                time.sleep(verdict.seconds)
                continue
            self.store.requeue(job.id, token, delay_seconds=verdict.seconds)
            waited = time.monotonic() - entered
            self.metrics.limiter_wait.labels(instance.name).observe(waited + verdict.seconds)
            log.info("capacity_wait", reason=verdict.reason, wait=round(verdict.seconds, 3))
            return None

    def _release_failed(
        self, instance: InstanceConfig, admission: Admission, exc: ProviderError
    ) -> None:
        if isinstance(exc, ProviderRateLimited):
            cooldown = exc.retry_after or self.retry.rate_limit_cooldown_seconds
            self.capacity.release(
                instance, admission, Outcome.RATE_LIMITED, tokens_used=0, cooldown_seconds=cooldown
            )
        elif exc.retryable:
            self.capacity.release(instance, admission, Outcome.FAILED)
        else:
            self.capacity.release(instance, admission, Outcome.OK, tokens_used=0)

    def _provider_failed(
        self,
        job: JobRecord,
        token: str,
        route: RouteState,
        request: ChatRequest | EmbeddingRequest,
        exc: ProviderError,
        spent: dict[str, Any] | None,
    ) -> None:
        if not exc.retryable:
            self.fail(job, token, exc.to_dict(), failures=1, fields=spent)
            return
        fallback = self.planner.next_untried(route, request)
        if fallback is not None:
            self._fall_back(job, token, route, fallback, failures=1)
            log.warning("fallback_used", error=exc.error_type, to=fallback.instance)
            return
        self._retry_or_fail(job, token, route, exc, exc.retry_after, spent)

    def _retry_or_fail(
        self,
        job: JobRecord,
        token: str,
        route: RouteState,
        exc: ProviderError,
        wait: float | None,
        spent: dict[str, Any] | None,
    ) -> None:
        """One more failed attempt: back off and start a new round, or give up."""
        attempt = job.failures + 1
        if attempt >= self.retry.max_attempts:
            error = exc.to_dict()
            error["message"] = f"{exc.message} (gave up after {attempt} attempts)"
            if exc.retry_after is not None:  # the provider's last word on when to come back
                error["retry_after"] = exc.retry_after
            self.fail(job, token, error, failures=1, fields=spent)
            return
        delay = self.retry.delay(attempt, wait)
        self.metrics.retries.labels(route.current.instance).inc()
        log.warning(
            "provider_retry", error=exc.error_type, attempt=attempt, retry_in=round(delay, 3)
        )
        self.move(job, token, self.planner.restarted(route), delay=delay, failures=1)

    def _observe_failure(
        self, instance: InstanceConfig, route: RouteState, exc: ProviderError, started: float
    ) -> None:
        outcome = "rate_limited" if isinstance(exc, ProviderRateLimited) else "error"
        self.metrics.call(instance, route.current.model, outcome, time.perf_counter() - started)
        self.metrics.errors.labels(instance.name, exc.error_type).inc()

    def _fall_back(
        self, job: JobRecord, token: str, route: RouteState, to: Candidate, *, failures: int
    ) -> None:
        """Move the job to fallback ``to`` now."""
        self.metrics.fallbacks.labels(route.current.instance, to.instance).inc()
        self.move(job, token, route.moved_to(to), delay=0, failures=failures)

    def move(
        self, job: JobRecord, token: str, route: RouteState, *, delay: float, failures: int
    ) -> None:
        """Hand the job back for ``route``'s instance, now or after ``delay`` seconds."""
        fields: dict[str, Any] = {"route": route.to_record()}
        if route.current.instance != job.provider:
            queue = self.instances[route.current.instance].queue
            message = self.messages.run_job(job.id, queue, job.priority, job.request_id)
            fields |= {
                "provider": route.current.instance,
                "queue": queue,
                "message": message.payload.decode(),
                "message_key": message.key,
            }
        self.store.requeue(
            job.id, token, delay_seconds=delay, failures_increment=failures, fields=fields
        )
        if route.current.instance != job.provider and job.provider:
            # Leaving this instance: give up its place in the line there at once.
            self.capacity.forget(job.provider, job.id)

    def fail(
        self,
        job: JobRecord,
        token: str,
        error: dict[str, object],
        failures: int = 0,
        fields: dict[str, Any] | None = None,
    ) -> None:
        """Record the job as failed, if ``token`` still holds it."""
        moved, current = self.store.finish(
            job.id,
            token,
            JobStatus.FAILED,
            failures_increment=failures,
            fields={"error": error, "finished_at": time.time(), **(fields or {})},
        )
        log.warning("job_failed", error_type=error.get("type"), recorded=moved, status=current)
