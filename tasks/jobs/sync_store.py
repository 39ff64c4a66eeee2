"""``SyncJobStore``: the worker side's blocking access to job records (pool threads):
claims and leases, finishing, re-queueing, and the deferred-job pump (``tasks.jobs.leases``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from redis import Redis

from gateway import keys
from gateway.redis_replies import text
from tasks.jobs.leases import (
    CHECKPOINT_LUA,
    CLAIM_LUA,
    FINISH_IN_SESSION_LUA,
    FINISH_LUA,
    PUMP_LUA,
    REAP_LUA,
    RENEW_LUA,
    REQUEUE_LUA,
)
from tasks.jobs.record import TRANSITION_LUA, JobRecord, JobStatus, encode_field, transition_args

_JOB_PREFIX = keys.job("")

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SessionAppend:
    """Messages a finishing job adds to its conversation session, in the same step."""

    session_id: str
    tenant: str
    messages: list[dict[str, Any]]
    max_messages: int


def _pairs(fields: dict[str, Any] | None) -> list[str]:
    out: list[str] = []
    for name, value in (fields or {}).items():
        out += [name, "" if value is None else encode_field(name, value)]
    return out


class SyncJobStore:
    """Load records, move them through the state machine, and keep their leases."""

    def __init__(self, redis: Redis, lease_seconds: float = 30.0) -> None:
        self._redis = redis
        self.lease_ms = int(lease_seconds * 1000)
        self._transition = redis.register_script(TRANSITION_LUA)
        self._claim = redis.register_script(CLAIM_LUA)
        self._finish = redis.register_script(FINISH_LUA)
        self._finish_in_session = redis.register_script(FINISH_IN_SESSION_LUA)
        self._checkpoint = redis.register_script(CHECKPOINT_LUA)
        self._requeue = redis.register_script(REQUEUE_LUA)
        self._renew = redis.register_script(RENEW_LUA)
        self._reap = redis.register_script(REAP_LUA)
        self._pump = redis.register_script(PUMP_LUA)

    def load(self, job_id: str) -> JobRecord | None:
        raw = self._redis.hgetall(keys.job(job_id))
        return JobRecord.from_redis(raw) if raw else None

    def claim(self, job_id: str, token: str) -> tuple[JobRecord | None, str]:
        """Start running ``job_id`` under lease ``token``: (the record, "running"), or
        (None, why not): its terminal status, "running" (another live lease), "missing"."""
        reply = self._claim(
            keys=[keys.job(job_id), keys.RUNNING, keys.DEFERRED],
            args=[token, self.lease_ms, repr(time.time()), job_id],
        )
        if int(reply[0]) == -1:
            return None, "missing"
        if int(reply[0]) == 0:
            return None, text(reply[1])
        fields = dict(zip(reply[1][::2], reply[1][1::2], strict=True))
        return JobRecord.from_redis(fields), "running"

    def finish(
        self,
        job_id: str,
        token: str,
        status: JobStatus,
        *,
        attempts_increment: int = 0,
        fields: dict[str, Any] | None = None,
        session: SessionAppend | None = None,
    ) -> tuple[bool, str]:
        """Record the terminal outcome if ``token`` still holds the job, appending to its
        session in the same step when given; (moved, status)."""
        assert status.terminal
        head = [token, status.value, keys.JOB_DONE_CHANNEL, job_id, attempts_increment]
        if session is None:
            ok, current = self._finish(
                keys=[keys.job(job_id), keys.RUNNING], args=[*head, *_pairs(fields)]
            )
            return int(ok) == 1, text(current)
        # Only what the session can keep: the script trims to the newest ``max_messages``.
        kept = session.messages[-session.max_messages :]
        encoded = [orjson.dumps(m).decode() for m in kept]
        reply = self._finish_in_session(
            keys=[
                keys.job(job_id),
                keys.RUNNING,
                keys.session(session.session_id),
                keys.session_messages(session.session_id),
                keys.session_context(session.session_id),
            ],
            args=[
                *head,
                session.tenant,
                session.max_messages,
                len(encoded),
                *encoded,
                *_pairs(fields),
            ],
        )
        if int(reply[0]) == 1 and int(reply[2]) == 0:
            log.warning("session_expired_before_append", session_id=session.session_id)
        return int(reply[0]) == 1, text(reply[1])

    def checkpoint(self, job_id: str, token: str, fields: dict[str, Any]) -> bool:
        """Save progress fields while ``token`` still holds the job; False otherwise."""
        ok, _ = self._checkpoint(keys=[keys.job(job_id)], args=[token, *_pairs(fields)])
        return int(ok) == 1

    def requeue(
        self,
        job_id: str,
        token: str,
        *,
        delay_seconds: float,
        attempts_increment: int = 0,
        fields: dict[str, Any] | None = None,
    ) -> bool:
        """Give the job back: to the deferred set for ``delay_seconds``, or (0) straight to
        the front of its queue. False if ``token`` no longer holds it."""
        ok, _ = self._requeue(
            keys=[keys.job(job_id), keys.RUNNING, keys.DEFERRED],
            args=[
                token,
                job_id,
                max(int(delay_seconds * 1000), 0),
                attempts_increment,
                *_pairs(fields),
            ],
        )
        return int(ok) == 1

    def renew(self, leases: list[tuple[str, str]]) -> None:
        """Extend the leases (job id, token) this worker still holds."""
        if leases:
            flat = [part for lease in leases for part in lease]
            self._renew(keys=[keys.RUNNING], args=[self.lease_ms, _JOB_PREFIX, *flat])

    def reap(self, recoveries_allowed: int, batch: int = 100) -> tuple[int, int]:
        """Re-queue jobs whose lease lapsed; (re-queued, failed for losing too many workers)."""
        requeued, failed = self._reap(
            keys=[keys.RUNNING],
            args=[
                _JOB_PREFIX,
                recoveries_allowed,
                batch,
                keys.JOB_DONE_CHANNEL,
                repr(time.time()),
                self.lease_ms // 2,
            ],
        )
        return int(requeued), int(failed)

    def pump(self, batch: int = 200) -> int:
        """Push due deferred jobs back onto their queues; returns how many were due."""
        args: list[str | int] = [_JOB_PREFIX, batch, keys.LIMIT_PREFIX]
        return int(self._pump(keys=[keys.DEFERRED], args=args))

    def transition(
        self,
        job_id: str,
        allowed: frozenset[JobStatus] | set[JobStatus],
        new: JobStatus,
        *,
        attempts_increment: int = 0,
        fields: dict[str, Any] | None = None,
    ) -> tuple[bool, str]:
        """Atomically move ``allowed`` → ``new`` regardless of leases; returns (moved, now)."""
        ok, current = self._transition(
            keys=[keys.job(job_id)],
            args=transition_args(
                allowed,
                new,
                job_id,
                publish_channel=keys.JOB_DONE_CHANNEL,
                attempts_increment=attempts_increment,
                fields=fields,
            ),
        )
        return int(ok) == 1, text(current)
