"""Running one delivery of a job: claim it under a lease, run its kind within the
provider's capacity, and record exactly one outcome — or hand the job back to wait.

Duplicate deliveries are harmless: a job held by a live lease or already terminal is not
run again, and only the lease holder can finish or re-queue it, so a job cancelled
mid-call (or re-run after its worker was lost) keeps its first terminal state.

An *attempt* is a provider call. Waiting for capacity is not an attempt; a 429, a 5xx,
a timeout or an open circuit is. Untried fallbacks are always used before giving up;
after that the job backs off and retries until ``max_attempts`` calls have failed.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from redis.exceptions import RedisError

from gateway.errors import (
    GatewayError,
    InvalidRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from providers.base import Provider
from providers.capacity import (
    Admission,
    Outcome,
    ProviderCapacity,
    RequestTooLarge,
    estimate_tokens,
    wait_order,
)
from providers.config import InstanceConfig
from providers.openai_format import chat_request_from_openai
from providers.types import ChatRequest
from tasks.completion import JobOutcome, completion_outcome
from tasks.in_flight import InFlight
from tasks.records import JobRecord, JobStatus, JobType
from tasks.routing import FallbackPlanner, RouteState
from tasks.sync_store import SyncJobStore
from tasks.task_messages import TaskMessageBuilder
from tools.registry import ToolRegistry

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
class JobRunner:
    """Everything a delivery needs, passed in by the worker that owns it."""

    store: SyncJobStore
    instances: dict[str, InstanceConfig]
    provider_for: Callable[[str], Provider]
    tools: ToolRegistry
    retry: RetryPolicy
    capacity: ProviderCapacity
    planner: FallbackPlanner
    in_flight: InFlight
    # How long a job may sleep in its worker slot for capacity before handing it back.
    wait_in_slot_seconds: float = 0.5
    messages: TaskMessageBuilder = field(default_factory=TaskMessageBuilder)

    def run(self, job_id: str) -> None:
        """Run one delivery of ``job_id``."""
        token = uuid.uuid4().hex
        job, status = self.store.claim(job_id, token)
        if job is None:
            # Missing, terminal, or running under another live lease: nothing to do.
            log.info("delivery_ignored", job_id=job_id, status=status)
            return
        structlog.contextvars.bind_contextvars(job_id=job_id, request_id=job.request_id)
        with self.in_flight.job(job_id, token):
            try:
                self._dispatch(job, token)
            except GatewayError as exc:
                self._finish_failed(job, token, exc.to_dict())
            except RedisError:
                # Not the job's fault: the delivery is put back (``run_delivery``), and the
                # lease reaper re-runs the job if this worker cannot record anything.
                raise
            except Exception:
                log.exception("job_crashed")
                error: dict[str, object] = {"type": "internal_error", "message": "internal error"}
                self._finish_failed(job, token, error)

    def _dispatch(self, job: JobRecord, token: str) -> None:
        if job.type is JobType.COMPLETION:
            self._run_completion(job, token)
        elif job.type is JobType.TOOL:
            tool = self.tools.get(str(job.request.get("name", "")))
            output = tool.handler(job.request.get("arguments", {}))
            self._finish_succeeded(job, token, JobOutcome(result={"output": output}), 0.0)
        else:
            raise InvalidRequest(f"job type {job.type.value!r} is not supported yet", param="type")

    def _run_completion(self, job: JobRecord, token: str) -> None:
        route = RouteState.of(job)
        instance = self.instances.get(route.current.instance)
        if instance is None:
            raise InvalidRequest(f"provider instance {route.current.instance!r} is not configured")
        parsed = chat_request_from_openai(job.request)
        request = replace(parsed, model=instance.upstream_model(route.current.model))
        # Before admission: a client built after it would delay the call past its slot in
        # the window, and a later, faster call could then share the provider's window.
        provider = self.provider_for(instance.name)
        admission = self._admit(job, token, instance, request, route)
        if admission is None:
            return  # handed back to wait, or moved to a fallback
        started = time.perf_counter()
        with self.in_flight.call(admission):
            try:
                response = provider.complete(request)
            except ProviderError as exc:
                self._release_failed(instance, admission, exc)
                self._provider_failed(job, token, route, parsed, exc)
                return
            except BaseException:
                self.capacity.release(instance, admission, Outcome.NEUTRAL)
                raise
        price = instance.prices.get(route.current.model)
        outcome = completion_outcome(response, job.model or "", price)
        outcome.result["provider"] = instance.name
        # The result first: a paid-for answer is recorded even if the release then fails.
        self._finish_succeeded(job, token, outcome, time.perf_counter() - started)
        used = response.usage.total_tokens
        # No usage reported: keep the reservation rather than pretend nothing was spent.
        self.capacity.release(instance, admission, Outcome.OK, tokens_used=used or None)

    def _admit(
        self,
        job: JobRecord,
        token: str,
        instance: InstanceConfig,
        request: ChatRequest,
        route: RouteState,
    ) -> Admission | None:
        """Capacity for one call, or None once the job has been handed back."""
        order = wait_order(job.priority, job.created_at)
        tokens = estimate_tokens(request, instance.limits.reply_tokens_estimate)
        deadline = time.monotonic() + self.wait_in_slot_seconds
        while True:
            try:
                verdict = self.capacity.acquire(instance, job.id, order, tokens)
            except RequestTooLarge as exc:
                # This instance can never take it; another candidate may.
                fallback = self.planner.next_untried(route, request)
                if fallback is None:
                    raise InvalidRequest(str(exc)) from None
                self._move(job, token, route.moved_to(fallback), delay=0, attempts=0)
                return None
            if isinstance(verdict, Admission):
                return verdict
            if verdict.reason in ("cooldown", "circuit_open", "circuit_probing"):
                fallback = self.planner.next_untried(route, request)
                if fallback is not None:
                    self._move(job, token, route.moved_to(fallback), delay=0, attempts=0)
                    log.info("fallback_used", reason=verdict.reason, to=fallback.instance)
                    return None
            if verdict.reason == "circuit_open":
                # Counted as an attempt, so a provider that stays down fails its jobs in
                # bounded time instead of holding them forever. The job leaves the line:
                # a freed slot must not wake it before the circuit's reset time.
                self.capacity.forget(instance.name, job.id)
                error = ProviderUnavailable(f"provider instance {instance.name!r} is failing")
                self._retry_or_fail(job, token, route, error, verdict.seconds)
                return None
            if time.monotonic() + verdict.seconds <= deadline:
                time.sleep(verdict.seconds)
                continue
            self.store.requeue(job.id, token, delay_seconds=verdict.seconds)
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
        request: ChatRequest,
        exc: ProviderError,
    ) -> None:
        if not exc.retryable:
            self._finish_failed(job, token, exc.to_dict(), attempts=1)
            return
        fallback = self.planner.next_untried(route, request)
        if fallback is not None:
            self._move(job, token, route.moved_to(fallback), delay=0, attempts=1)
            log.warning("fallback_used", error=exc.error_type, to=fallback.instance)
            return
        self._retry_or_fail(job, token, route, exc, exc.retry_after)

    def _retry_or_fail(
        self,
        job: JobRecord,
        token: str,
        route: RouteState,
        exc: ProviderError,
        wait: float | None,
    ) -> None:
        """One more failed attempt: back off and start a new round, or give up."""
        attempt = job.attempts + 1
        if attempt >= self.retry.max_attempts:
            error = exc.to_dict()
            error["message"] = f"{exc.message} (gave up after {attempt} attempts)"
            self._finish_failed(job, token, error, attempts=1)
            return
        delay = self.retry.delay(attempt, wait)
        log.warning(
            "provider_retry", error=exc.error_type, attempt=attempt, retry_in=round(delay, 3)
        )
        self._move(job, token, route.restarted(), delay=delay, attempts=1)

    def _move(
        self, job: JobRecord, token: str, route: RouteState, *, delay: float, attempts: int
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
            job.id, token, delay_seconds=delay, attempts_increment=attempts, fields=fields
        )
        if route.current.instance != job.provider and job.provider:
            # Leaving this instance: give up its place in the line there at once.
            self.capacity.forget(job.provider, job.id)

    def _finish_succeeded(
        self, job: JobRecord, token: str, outcome: JobOutcome, seconds: float
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
        )
        if moved:
            log.info("job_succeeded", seconds=round(seconds, 4), usage=outcome.usage)
        else:
            log.info("job_result_discarded", status=current)

    def _finish_failed(
        self, job: JobRecord, token: str, error: dict[str, object], attempts: int = 0
    ) -> None:
        moved, current = self.store.finish(
            job.id,
            token,
            JobStatus.FAILED,
            attempts_increment=attempts,
            fields={"error": error, "finished_at": time.time()},
        )
        log.warning("job_failed", error_type=error.get("type"), recorded=moved, status=current)
