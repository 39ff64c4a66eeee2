"""``SyncJobStore``: the worker side's blocking access to job records (pool threads)."""

from __future__ import annotations

from typing import Any

from redis import Redis

from gateway import keys
from tasks.records import CLAIM_LUA, TRANSITION_LUA, JobRecord, JobStatus, transition_args


class SyncJobStore:
    """Load records and move them through the state machine."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._transition = redis.register_script(TRANSITION_LUA)
        self._claim = redis.register_script(CLAIM_LUA)

    def load(self, job_id: str) -> JobRecord | None:
        raw = self._redis.hgetall(keys.job(job_id))
        return JobRecord.from_redis(raw) if raw else None

    def claim(self, job_id: str, started_at: float) -> tuple[JobRecord | None, str]:
        """Start an attempt: (the record as claimed, "running"), or (None, why not): the
        terminal status it already has, or "missing"."""
        reply = self._claim(keys=[keys.job(job_id)], args=[repr(started_at)])
        if int(reply[0]) == -1:
            return None, "missing"
        if int(reply[0]) == 0:
            status = reply[1]
            return None, status.decode() if isinstance(status, bytes) else str(status)
        flat = reply[1]
        return JobRecord.from_redis(dict(zip(flat[::2], flat[1::2], strict=True))), "running"

    def transition(
        self,
        job_id: str,
        allowed: frozenset[JobStatus] | set[JobStatus],
        new: JobStatus,
        *,
        attempts_increment: int = 0,
        fields: dict[str, Any] | None = None,
    ) -> tuple[bool, str]:
        """Atomically move ``allowed`` → ``new``; returns (moved, status now)."""
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
        text = current.decode() if isinstance(current, bytes) else str(current)
        return int(ok) == 1, text
