"""Running one delivery of a job: claim it under a lease, run its kind, and record exactly
one outcome — or hand the job back to wait.

Duplicate deliveries are harmless: a job held by a live lease or already terminal is not
run again, and only the lease holder can finish, checkpoint or re-queue it, so a job
cancelled mid-call (or re-run after its worker was lost) keeps its first terminal state.

What a job does is its kind's (``tasks.kinds``): the runner looks the job's type up in
the table the worker built, and records a failure when the kind raises.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import structlog
from redis.exceptions import RedisError

from gateway.errors import GatewayError, InvalidRequest
from tasks.jobs.record import JobRecord, JobType
from tasks.kinds.base import JobKindRunner
from tasks.loops.first_calls import FirstCalls
from tasks.loops.model_calls import ModelCalls

log = structlog.get_logger(__name__)


class JobRunner:
    """Claims deliveries and runs them with the kind runner for the job's type."""

    def __init__(self, *, calls: ModelCalls, kinds: Mapping[JobType, JobKindRunner]) -> None:
        # The store to claim from, the in-flight set the lease renewal reads, and ``fail``.
        self.calls = calls
        self.store = calls.store
        self.kinds = kinds

    def run(self, job_id: str, queue: str | None = None) -> None:
        """Run one delivery of ``job_id``, delivered from ``queue`` (when known: a job
        delivered from its instance's queue has its first call admitted with its claim)."""
        token = uuid.uuid4().hex
        first_calls = self.calls.first_calls
        if first_calls is None:
            job, status = self.store.claim(job_id, token)
        else:
            job, status = first_calls.claim(job_id, token, queue)
        if job is None:
            # Missing, terminal, or running under another live lease: nothing to do.
            log.info("delivery_ignored", job_id=job_id, status=status)
            return
        structlog.contextvars.bind_contextvars(job_id=job_id, request_id=job.request_id)
        try:
            self._run_claimed(job, token)
        finally:
            if first_calls is not None:
                self._drop_first_call(first_calls, job_id, token)

    def _run_claimed(self, job: JobRecord, token: str) -> None:
        with self.calls.in_flight.job(job.id, token):
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

    @staticmethod
    def _drop_first_call(first_calls: FirstCalls, job_id: str, token: str) -> None:
        """Release a first call the claim admitted and the job never made. Failing that
        (Redis away), its in-flight lease lapses on its own; the job's outcome stands."""
        try:
            first_calls.drop(job_id, token)
        except RedisError as exc:
            log.warning("first_call_release_failed", error=type(exc).__name__)

    def _dispatch(self, job: JobRecord, token: str) -> None:
        kind = self.kinds.get(job.type)
        if kind is None:
            raise InvalidRequest(f"job type {job.type.value!r} is not supported yet", param="type")
        kind.run(job, token)
