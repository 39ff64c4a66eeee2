"""Running one delivery of a job: claim it, run its kind, record exactly one outcome.

Duplicate deliveries are harmless: a terminal record is never touched again, and the
final write is a compare-and-set from ``running``, so a job cancelled mid-call (or
finished by another copy) keeps its first terminal state.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from gateway.errors import GatewayError, InvalidRequest, ProviderError
from providers.base import Provider
from providers.config import InstanceConfig
from tasks.completion import JobOutcome, run_completion
from tasks.records import JobRecord, JobStatus, JobType
from tasks.sync_store import SyncJobStore
from tools.registry import ToolRegistry

log = structlog.get_logger(__name__)

RUNNING = frozenset({JobStatus.RUNNING})


class RetryLater(Exception):
    """Raised to ask the worker to deliver the job again after ``countdown`` seconds."""

    def __init__(self, countdown: float, reason: str) -> None:
        super().__init__(reason)
        self.countdown = countdown
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    # A countdown is an unacked message held by the worker; past the broker's visibility
    # timeout it would be delivered a second time, so no delay may reach it.
    max_countdown_seconds: float = float("inf")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter; a provider's ``retry-after`` wins if longer."""
        ceiling = min(self.backoff_max_seconds, self.backoff_seconds * 2 ** max(attempt - 1, 0))
        delay = random.uniform(ceiling / 2, ceiling)
        return min(max(delay, retry_after or 0.0), self.max_countdown_seconds)


@dataclass(frozen=True, slots=True)
class JobRunner:
    """Everything a delivery needs, passed in by the worker that owns it."""

    store: SyncJobStore
    instances: dict[str, InstanceConfig]
    provider_for: Callable[[str], Provider]
    tools: ToolRegistry
    retry: RetryPolicy

    def run(self, job_id: str) -> None:
        """Run one delivery of ``job_id``; raises ``RetryLater`` to be re-delivered."""
        job, status = self.store.claim(job_id, time.time())
        if job is None:
            # Expired, or already terminal: a duplicate delivery, or cancelled while queued.
            log.info("delivery_ignored", job_id=job_id, status=status)
            return
        structlog.contextvars.bind_contextvars(job_id=job_id, request_id=job.request_id)
        attempt = job.attempts
        started = time.perf_counter()
        try:
            outcome = self._dispatch(job)
        except ProviderError as exc:
            self._provider_failed(job, attempt, exc)
            return
        except GatewayError as exc:
            self._finish_failed(job_id, exc.to_dict())
            return
        except Exception:
            log.exception("job_crashed")
            self._finish_failed(job_id, {"type": "internal_error", "message": "internal error"})
            return
        self._finish_succeeded(job_id, outcome, time.perf_counter() - started)

    def _dispatch(self, job: JobRecord) -> JobOutcome:
        if job.type is JobType.COMPLETION:
            instance = self.instances.get(job.provider or "")
            if instance is None:
                raise InvalidRequest(f"provider instance {job.provider!r} is not configured")
            provider = self.provider_for(instance.name)
            return run_completion(job, provider, instance)
        if job.type is JobType.TOOL:
            tool = self.tools.get(str(job.request.get("name", "")))
            return JobOutcome(result={"output": tool.handler(job.request.get("arguments", {}))})
        raise InvalidRequest(f"job type {job.type.value!r} is not supported yet", param="type")

    def _provider_failed(self, job: JobRecord, attempt: int, exc: ProviderError) -> None:
        if exc.retryable and attempt < self.retry.max_attempts:
            delay = self.retry.delay(attempt, exc.retry_after)
            moved, _ = self.store.transition(job.id, RUNNING, JobStatus.QUEUED)
            if moved:
                log.warning(
                    "provider_retry",
                    error=exc.error_type,
                    attempt=attempt,
                    retry_in=round(delay, 3),
                )
                raise RetryLater(delay, exc.error_type)
            return
        error = exc.to_dict()
        if exc.retryable:
            error["message"] = f"{exc.message} (gave up after {attempt} attempts)"
        self._finish_failed(job.id, error)

    def _finish_succeeded(self, job_id: str, outcome: JobOutcome, seconds: float) -> None:
        moved, current = self.store.transition(
            job_id,
            RUNNING,
            JobStatus.SUCCEEDED,
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

    def _finish_failed(self, job_id: str, error: dict[str, object]) -> None:
        moved, current = self.store.transition(
            job_id,
            RUNNING,
            JobStatus.FAILED,
            fields={"error": error, "finished_at": time.time()},
        )
        log.warning("job_failed", error_type=error.get("type"), recorded=moved, status=current)
