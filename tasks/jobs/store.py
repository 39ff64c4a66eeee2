"""``JobStore``: the API side's async access to job records in Redis."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from gateway import keys
from gateway.errors import Conflict, NotFound
from gateway.offload import Offload
from gateway.redis_replies import text
from gateway.replica_wait import ReplicaWait
from tasks.jobs.completion_hub import Completion
from tasks.jobs.job_scripts import JobScripts
from tasks.jobs.messages import TaskMessage
from tasks.jobs.record import TERMINAL, JobRecord, JobStatus, oldest_live_id_bound
from tasks.jobs.summary import Expansion, JobSummary, summary_fields

CANCELLABLE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of a tenant's jobs, newest first."""

    jobs: list[JobSummary]
    next_cursor: str | None


def record_from_notice(notice: bytes) -> JobRecord | None:
    """The finished record in a completion notice (``end_held.lua``), or None when it has
    none or it does not read as one (then the record is read from Redis)."""
    if not notice:
        return None
    try:
        flat = orjson.loads(notice)
        record = JobRecord.from_redis(dict(zip(flat[::2], flat[1::2], strict=True)))
    except (ValueError, TypeError, KeyError):
        return None
    return record if record.status in TERMINAL else None


class JobStore:
    """Create, read, list and cancel job records. Tenancy is enforced here: another
    tenant's job is indistinguishable from a missing one."""

    def __init__(
        self,
        redis: Redis,
        ttl_seconds: int,
        offload: Offload | None = None,
        replica_wait: ReplicaWait | None = None,
    ) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._scripts = JobScripts(redis)
        # Decoding a large record (a 1 MiB request is ~10 ms of JSON) runs off the loop.
        self._offload = offload
        # What a 202 promises across a failover: the job is on this many replicas too.
        self._replica_wait = replica_wait or ReplicaWait()

    async def create(
        self, record: JobRecord, message: TaskMessage, fields: dict[str, str] | None = None
    ) -> tuple[JobRecord, bool]:
        """Store a new record and push its task message, atomically; with an idempotency key
        already used by this tenant, return that job instead (``created`` is then False).
        ``fields``: ``record.to_redis()``, when the caller encoded it already."""
        submit = functools.partial(
            self._scripts.submit,
            record.id,
            record.tenant,
            idempotency_key=record.idempotency_key,
            message=message,
            fields=fields if fields is not None else record.to_redis(),
            ttl_seconds=self._ttl,
            expired_below=oldest_live_id_bound(self._ttl),
        )
        return await self._created(record, submit)

    async def create_finished(
        self, record: JobRecord, fields: dict[str, str] | None = None
    ) -> tuple[JobRecord, bool]:
        """Store a record that is already terminal (a response-cache hit) and queue nothing;
        its webhook is scheduled as any finished job's. An idempotency key already used
        returns that job, as ``create`` does."""
        submit = functools.partial(
            self._scripts.submit_finished,
            record.id,
            record.tenant,
            idempotency_key=record.idempotency_key,
            status=record.status,
            fields=fields if fields is not None else record.to_redis(),
            ttl_seconds=self._ttl,
            expired_below=oldest_live_id_bound(self._ttl),
        )
        return await self._created(record, submit)

    async def _created(
        self, record: JobRecord, submit: Callable[..., Awaitable[Any]]
    ) -> tuple[JobRecord, bool]:
        """Run a creating script (replicated before a 202 when configured): (record, True),
        or the job its idempotency key named, (existing, False), unless that was made for a
        different request (409)."""
        if self._replica_wait.enabled:
            # WAIT counts the writes of its own connection: the script and the WAIT share one.
            async with self._redis.client() as connection:
                created, job_id = await submit(client=connection)
                await self._replica_wait.confirm(connection)
        else:
            created, job_id = await submit()
        if int(created):
            return record, True
        existing = await self.get(text(job_id), record.tenant)
        if existing.fingerprint != record.fingerprint:
            raise Conflict(
                f"idempotency key {record.idempotency_key!r} was used for a different request "
                f"(job {existing.id})",
                param="idempotency_key",
            )
        return existing, False

    async def get(self, job_id: str, tenant: str) -> JobRecord:
        record = await self.get_any(job_id)
        if record is None or record.tenant != tenant:
            raise NotFound(f"no job {job_id!r}", param="id")
        return record

    async def get_finished(self, job_id: str, tenant: str, completion: Completion) -> JobRecord:
        """``get`` for a job ``completion`` announced finished: from the record its notice
        carried when there is one (no round trip), else read."""
        record = record_from_notice(completion.record)
        if record is not None and record.id == job_id and record.tenant == tenant:
            return record
        return await self.get(job_id, tenant)

    async def get_any(self, job_id: str) -> JobRecord | None:
        """A record regardless of tenant (internal use: the completion hub)."""
        raw = await self._redis.hgetall(keys.job(job_id))
        if not raw:
            return None
        if self._offload is None:
            return JobRecord.from_redis(raw)
        size = sum(map(len, raw.values()))
        return await self._offload.run(size, lambda: JobRecord.from_redis(raw))

    async def are_terminal(self, job_ids: list[str]) -> list[bool]:
        """For each id, whether its job is finished (or gone); one pipelined round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(keys.job(job_id), "status")
        statuses = await pipe.execute()
        return [s is None or JobStatus(text(s)) in TERMINAL for s in statuses]

    async def list(
        self,
        tenant: str,
        *,
        status: JobStatus | None,
        limit: int,
        cursor: str | None,
        expand: Collection[Expansion] = (),
    ) -> JobPage:
        """Newest first. ``cursor`` is the last id of the previous page. Each job is read
        with one ``HMGET`` of its summary fields (and the expanded ones): never its request
        or result unless asked for."""
        names = summary_fields(expand)
        found: list[JobSummary] = []
        upper = f"({cursor}" if cursor else "+"
        scanned_pages = 0
        while len(found) < limit and scanned_pages < 20:
            scanned_pages += 1
            ids = await self._redis.zrevrangebylex(
                keys.tenant_jobs(tenant), upper, "-", start=0, num=limit * 2
            )
            if not ids:
                return JobPage(found, None)
            pipe = self._redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(keys.job(text(job_id)), names)
            for job_id, values in zip(ids, await pipe.execute(), strict=True):
                upper = f"({text(job_id)}"
                summary = JobSummary.from_hmget(names, values)
                if summary is None:
                    continue
                if status is None or summary.status == status:
                    found.append(summary)
                    if len(found) == limit:
                        return JobPage(found, await self._cursor_if_more(tenant, summary.id))
        return JobPage(
            found, await self._cursor_if_more(tenant, upper[1:]) if upper != "+" else None
        )

    async def _cursor_if_more(self, tenant: str, last_id: str) -> str | None:
        """``last_id`` as the next cursor when older entries exist (with a status filter the
        next page may still come back empty)."""
        older = await self._redis.zrevrangebylex(
            keys.tenant_jobs(tenant), f"({last_id}", "-", start=0, num=1
        )
        return last_id if older else None

    async def cancel(self, job_id: str, tenant: str) -> JobRecord:
        """Cancel a queued or running job. A running call's result is discarded when it lands."""
        record = await self.get(job_id, tenant)
        if record.status in TERMINAL:
            raise Conflict(f"job {job_id!r} is already {record.status.value}", param="id")
        ok, current = await self._scripts.transition(
            job_id,
            CANCELLABLE,
            JobStatus.CANCELLED,
            fields={
                "finished_at": time.time(),
                "error": {"type": "cancelled", "message": "cancelled by the client"},
            },
        )
        if int(ok) != 1:
            raise Conflict(f"job {job_id!r} is already {text(current)}", param="id")
        return await self.get(job_id, tenant)

    async def whereabouts(self, job_id: str) -> str | None:
        """Where a job is, in words for a stream's keep-alive comment: ``queued, position
        3`` (1 = next; approximate while messages move), ``waiting, ready in 2.0s``
        (capacity, backoff), ``running``, or its terminal status; None once it is gone."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hmget(keys.job(job_id), ["status", "message", "message_key"])
        pipe.zscore(keys.DEFERRED, job_id)
        pipe.time()
        (status, message, queue), deferred_until, (seconds, micros) = await pipe.execute()
        if status is None:
            return None
        where = text(status)
        if deferred_until is not None:
            ready_in = max(float(deferred_until) / 1000 - (int(seconds) + int(micros) / 1e6), 0)
            return f"waiting, ready in {ready_in:.1f}s"
        if where == JobStatus.QUEUED and message is not None and queue is not None:
            # Celery's Redis transport pushes on the left and takes from the right.
            index = await self._redis.lpos(text(queue), message)
            if isinstance(index, int):
                length = await self._redis.llen(text(queue))
                return f"queued, position {length - index}"
        return where
