"""``SyncJobStore``: the worker side's blocking access to job records (pool threads):
claims and leases, finishing, re-queueing, and the deferred-job pump
(``tasks.jobs.job_scripts``)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from redis import Redis

from gateway import keys
from gateway.due_set import Pumped
from gateway.redis_replies import text
from limits.capacity_scripts import ReleaseCall
from tasks.jobs.job_scripts import JobScripts, PaidReply
from tasks.jobs.record import JobRecord, JobStatus

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SessionAppend:
    """Messages a finishing job adds to its conversation session, in the same step."""

    session_id: str
    tenant: str
    messages: list[dict[str, Any]]
    max_messages: int


@dataclass(frozen=True, slots=True)
class FirstCall:
    """A job's first provider call as its claim judged it: ``acquire.lua``'s reply
    (``ProviderCapacity.verdict`` reads it) for the ``tokens`` its record asked for."""

    reply: list[Any]
    tokens: int


def _claimed(reply: list[Any]) -> tuple[JobRecord | None, str]:
    """``claim_job.lua``'s reply, read: (the record, "running") or (None, why not)."""
    if int(reply[0]) == -1:
        return None, "missing"
    if int(reply[0]) == 0:
        return None, text(reply[1])
    fields = dict(zip(reply[1][::2], reply[1][1::2], strict=True))
    return JobRecord.from_redis(fields), "running"


class SyncJobStore:
    """Load records, move them through the state machine, and keep their leases."""

    def __init__(
        self,
        redis: Redis,
        lease_seconds: float = 30.0,
        stream_max_events: int = 10_000,
        usage_retention_seconds: int = 400 * 86400,
    ) -> None:
        self._redis = redis
        self.usage_retention_seconds = usage_retention_seconds
        self.lease_ms = int(lease_seconds * 1000)
        self.stream_max_events = stream_max_events
        self._scripts = JobScripts(redis)

    def load(self, job_id: str) -> JobRecord | None:
        raw = self._redis.hgetall(keys.job(job_id))
        return JobRecord.from_redis(raw) if raw else None

    def claim(self, job_id: str, token: str) -> tuple[JobRecord | None, str]:
        """Start running ``job_id`` under lease ``token``: (the record, "running"), or
        (None, why not): its terminal status, "running" (another live lease), "missing"."""
        reply = self._scripts.claim(
            job_id, token, lease_ms=self.lease_ms, started_at=repr(time.time())
        )
        return _claimed(reply)

    def claim_admit(
        self, job_id: str, token: str, instance: str, admission: list[int | str]
    ) -> tuple[JobRecord | None, str, FirstCall | None]:
        """``claim``, and the job's first provider call on ``instance`` judged in the same
        step when its record says what that call needs: (record, status, the call's
        ``acquire.lua`` reply and tokens, or None). An admitted call is counted as the
        job's attempt (``tasks/jobs/scripts/claim_admit.lua``)."""
        reply = self._scripts.claim_admit(
            job_id,
            token,
            lease_ms=self.lease_ms,
            started_at=repr(time.time()),
            instance=instance,
            admission=admission,
            attempt_id=uuid.uuid4().hex,
        )
        job, status = _claimed(reply)
        first = FirstCall(list(reply[2:5]), int(reply[5])) if len(reply) == 6 else None
        return job, status, first

    def finish(
        self,
        job_id: str,
        token: str,
        status: JobStatus,
        *,
        failures_increment: int = 0,
        fields: dict[str, Any] | None = None,
        session: SessionAppend | None = None,
        paid: PaidReply | None = None,
        release: ReleaseCall | None = None,
    ) -> tuple[bool, str]:
        """Record the terminal outcome if ``token`` still holds the job, appending to its
        session in the same step when given; (moved, status). ``paid``: the provider reply
        the outcome came from, recorded as paid for (``paid_reply``) whoever holds the job,
        in the same step when there is no session; ``release``, with ``paid`` and no
        session: that reply's provider call released in the same step too."""
        assert status.terminal
        assert release is None or (paid is not None and session is None)
        if paid is not None and session is None:
            ok, current = self._scripts.finish_paid(
                job_id,
                token,
                status,
                failures_increment=failures_increment,
                reply=paid,
                retention_seconds=self.usage_retention_seconds,
                fields=fields,
                release=release,
            )
            return int(ok) == 1, text(current)
        if paid is not None:
            self.paid_reply(paid)
        if session is None:
            ok, current = self._scripts.finish(
                job_id, token, status, failures_increment=failures_increment, fields=fields
            )
            return int(ok) == 1, text(current)
        # Only what the session can keep: the script trims to the newest ``max_messages``.
        kept = session.messages[-session.max_messages :]
        encoded = [orjson.dumps(m).decode() for m in kept]
        reply = self._scripts.finish_in_session(
            job_id,
            token,
            status,
            failures_increment=failures_increment,
            fields=fields,
            session_id=session.session_id,
            tenant=session.tenant,
            max_messages=session.max_messages,
            messages=encoded,
        )
        if int(reply[0]) == 1 and int(reply[2]) == 0:
            log.warning("session_expired_before_append", session_id=session.session_id)
        return int(reply[0]) == 1, text(reply[1])

    def start_attempt(self, job_id: str, token: str) -> bool:
        """Count an attempt (a provider call, a tool job's run) about to start, if ``token``
        still holds the job; False: it does not, and the attempt must not be made."""
        ok, _ = self._scripts.start_attempt(job_id, token, uuid.uuid4().hex)
        return int(ok) == 1

    def paid_reply(self, reply: PaidReply) -> None:
        """Record what a provider reply cost, whoever holds the job now, and count it in
        the tenant's usage."""
        self._scripts.paid_reply(reply, retention_seconds=self.usage_retention_seconds)

    def checkpoint(self, job_id: str, token: str, fields: dict[str, Any]) -> bool:
        """Save progress fields while ``token`` still holds the job; False otherwise."""
        ok, _ = self._scripts.checkpoint(job_id, token, fields)
        return int(ok) == 1

    def append_stream(self, job_id: str, token: str, events: list[bytes]) -> bool:
        """Append events (JSON) to the job's stream (``tasks.jobs.stream``) while ``token``
        holds the job; False once it does not (the caller should stop producing them)."""
        ok, _ = self._scripts.stream_append(job_id, token, events, max_len=self.stream_max_events)
        return int(ok) == 1

    def requeue(
        self,
        job_id: str,
        token: str,
        *,
        delay_seconds: float,
        failures_increment: int = 0,
        fields: dict[str, Any] | None = None,
    ) -> bool:
        """Give the job back: to the deferred set for ``delay_seconds``, or (0) straight to
        the front of its queue. False if ``token`` no longer holds it."""
        ok, _ = self._scripts.requeue(
            job_id,
            token,
            delay_ms=max(int(delay_seconds * 1000), 0),
            failures_increment=failures_increment,
            fields=fields,
        )
        return int(ok) == 1

    def renew(self, leases: list[tuple[str, str]]) -> None:
        """Extend the leases (job id, token) this worker still holds."""
        if leases:
            self._scripts.renew(leases, lease_ms=self.lease_ms)

    def reap(self, recoveries_allowed: int, batch: int = 100) -> tuple[int, int]:
        """Re-queue jobs whose lease lapsed; (re-queued, failed for losing too many workers)."""
        requeued, failed = self._scripts.reap(
            recoveries_allowed=recoveries_allowed,
            batch=batch,
            finished_at=repr(time.time()),
            grace_ms=self.lease_ms // 2,
        )
        return int(requeued), int(failed)

    def pump(self, batch: int = 200) -> Pumped:
        """Push due deferred jobs back onto their queues: how many were due, and when the
        next one is."""
        count, next_due_ms = self._scripts.pump(batch=batch)
        return Pumped.from_reply(count, next_due_ms)

    def transition(
        self,
        job_id: str,
        allowed: frozenset[JobStatus] | set[JobStatus],
        new: JobStatus,
        *,
        failures_increment: int = 0,
        fields: dict[str, Any] | None = None,
    ) -> tuple[bool, str]:
        """Atomically move ``allowed`` → ``new`` regardless of leases; returns (moved, now)."""
        ok, current = self._scripts.transition(
            job_id, allowed, new, failures_increment=failures_increment, fields=fields
        )
        return int(ok) == 1, text(current)
