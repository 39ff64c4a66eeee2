"""``BatchStore``: the API side's access to batches in Redis — create one with all its jobs
in one transaction, read it with live counts, stream its results, cancel it, list them.
Tenancy is enforced here: another tenant's batch is indistinguishable from a missing one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import WatchError

from gateway import keys
from gateway.errors import Conflict, NotFound
from gateway.redis_replies import optional_text, text
from tasks.batches.batch_scripts import BatchScripts
from tasks.batches.record import BatchRecord, oldest_live_batch_bound
from tasks.jobs.messages import TaskMessage
from tasks.jobs.record import JobRecord

# Results are read this many jobs at a time: a 10,000-document batch streams in slices
# (each line holds a whole enhanced document).
_SLICE = 64
_RESULT_FIELDS = ("custom_id", "status", "result", "error", "usage", "cost_usd")


class BatchStore:
    """Batches and their jobs."""

    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._scripts = BatchScripts(redis)

    async def create(
        self, batch: BatchRecord, jobs: list[tuple[JobRecord, TaskMessage]]
    ) -> tuple[BatchRecord, bool]:
        """Store the batch, its job records and their queue messages in one transaction
        (all or nothing). With an idempotency key this tenant already used, return that
        batch instead (``created`` False); a different request under it is a 409."""
        idem = (
            keys.batch_idempotency(batch.tenant, batch.idempotency_key)
            if batch.idempotency_key
            else None
        )
        for _ in range(3):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    if idem is not None:
                        await pipe.watch(idem)
                        existing = await pipe.get(idem)
                        if existing and await pipe.exists(keys.batch(text(existing))):
                            await pipe.reset()  # type: ignore[no-untyped-call]
                            return await self._repeat(text(existing), batch), False
                    pipe.multi()  # type: ignore[no-untyped-call]
                    self._queue_create(pipe, batch, jobs, idem)
                    await pipe.execute()
                    return batch, True
                except WatchError:
                    continue  # the same key was just used: the loop finds that batch
        raise Conflict("the idempotency key is being used concurrently", param="idempotency_key")

    def _queue_create(
        self,
        pipe: Any,
        batch: BatchRecord,
        jobs: list[tuple[JobRecord, TaskMessage]],
        idem: str | None,
    ) -> None:
        ttl = self._ttl
        if idem is not None:
            pipe.set(idem, batch.id, ex=ttl)
        pipe.hset(keys.batch(batch.id), mapping=batch.to_redis())
        pipe.expire(keys.batch(batch.id), ttl)
        ids = [record.id for record, _ in jobs]
        for first in range(0, len(ids), 1000):
            pipe.rpush(keys.batch_jobs(batch.id), *ids[first : first + 1000])
        pipe.expire(keys.batch_jobs(batch.id), ttl)
        pipe.zadd(keys.tenant_batches(batch.tenant), {batch.id: 0})
        pipe.zremrangebylex(keys.tenant_batches(batch.tenant), "-", oldest_live_batch_bound(ttl))
        pipe.expire(keys.tenant_batches(batch.tenant), ttl)
        for record, message in jobs:
            key = keys.job(record.id)
            fields = record.to_redis() | {
                "message": message.payload.decode(),
                "message_key": message.key,
            }
            pipe.hset(key, mapping=fields)
            pipe.expire(key, ttl)
            pipe.zadd(keys.tenant_jobs(batch.tenant), {record.id: 0})
            pipe.lpush(message.key, message.payload)
        pipe.expire(keys.tenant_jobs(batch.tenant), ttl)

    async def _repeat(self, batch_id: str, attempt: BatchRecord) -> BatchRecord:
        existing = await self.get(batch_id, attempt.tenant)
        if existing.fingerprint != attempt.fingerprint:
            raise Conflict(
                f"idempotency key {attempt.idempotency_key!r} was used for a different batch "
                f"({existing.id})",
                param="idempotency_key",
            )
        return existing

    async def get(self, batch_id: str, tenant: str) -> BatchRecord:
        raw = await self._redis.hgetall(keys.batch(batch_id))
        if not raw:
            raise NotFound(f"no batch {batch_id[:64]!r}", param="id")
        batch = BatchRecord.from_redis(raw)
        if batch.tenant != tenant:
            raise NotFound(f"no batch {batch_id[:64]!r}", param="id")
        return batch

    async def public(self, batch: BatchRecord) -> dict[str, Any]:
        """The batch as clients see it, its unfinished jobs split into queued and running
        (counted inside Redis: one round trip, whatever the batch's size)."""
        if batch.ended or batch.n_done >= batch.total:
            return batch.public(queued=0, running=0)
        running = int(await self._scripts.running(batch.id))
        unfinished = batch.total - batch.n_done
        running = min(running, unfinished)
        return batch.public(queued=unfinished - running, running=running)

    async def results(self, batch: BatchRecord) -> AsyncIterator[bytes]:
        """One JSON line per document, in submission order, read a slice at a time."""
        key = keys.batch_jobs(batch.id)
        for first in range(0, batch.total, _SLICE):
            ids = [text(i) for i in await self._redis.lrange(key, first, first + _SLICE - 1)]
            if not ids:
                return
            pipe = self._redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(keys.job(job_id), _RESULT_FIELDS)
            lines = bytearray()
            for job_id, values in zip(ids, await pipe.execute(), strict=True):
                lines += _result_line(job_id, values)
            yield bytes(lines)

    async def cancel(self, batch_id: str, tenant: str) -> BatchRecord:
        """Cancel every queued or running job of the batch; the batch ends ``cancelled``
        (documents already finished keep their results)."""
        await self.get(batch_id, tenant)  # 404 for another tenant's batch
        before = text(await self._scripts.cancel(batch_id))
        if before != "in_progress":
            raise Conflict(f"batch {batch_id!r} is already {before or 'gone'}", param="id")
        return await self.get(batch_id, tenant)

    async def list(
        self, tenant: str, *, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first, as clients see them; ``cursor`` is the last id of the previous
        page."""
        upper = f"({cursor}" if cursor else "+"
        ids = await self._redis.zrevrangebylex(
            keys.tenant_batches(tenant), upper, "-", start=0, num=limit + 1
        )
        page = [text(i) for i in ids[:limit]]
        pipe = self._redis.pipeline(transaction=False)
        for batch_id in page:
            pipe.hgetall(keys.batch(batch_id))
        found = [BatchRecord.from_redis(raw) for raw in await pipe.execute() if raw]
        return [await self.public(b) for b in found], (
            page[-1] if len(ids) > limit and page else None
        )


def _result_line(job_id: str, values: list[Any]) -> bytes:
    custom_id, status, result, error, usage, cost = (optional_text(v) for v in values)
    line = {
        "custom_id": custom_id,
        "job_id": job_id,
        # A record past its TTL: its result is gone, and saying so beats a missing line.
        "status": status or "expired",
        "result": orjson.loads(result) if result else None,
        "error": orjson.loads(error) if error else None,
        "usage": orjson.loads(usage) if usage else None,
        "cost_usd": float(cost) if cost else None,
    }
    return orjson.dumps(line) + b"\n"
