"""``StreamHub``: one blocking ``XREAD`` per API process relays every job stream it serves,
so 500 open streams cost one Redis connection, not 500.

A follower registers first and then catches up with ``XRANGE`` itself; the hub delivers
what arrives after. Overlaps are dropped by event id (ids only grow), so an event is never
missed between the catch-up and the hub's reads, and never delivered twice. A new job
stream joins the hub's read at once: the follower writes to the hub's wake stream, which
the blocked read includes. After a Redis outage the hub resumes from the ids it had
reached, so nothing written meanwhile is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway import keys
from tasks.jobs.stream import StreamEntry, decode

log = structlog.get_logger(__name__)

START = "0-0"
# How long the wake stream lives after its last write: only the hub reads it.
_WAKE_TTL_MS = 60_000


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(eq=False, slots=True)
class Follower:
    """One reader of one job's stream: entries after ``last_id``, in order, once each."""

    job_id: str
    last_id: str
    _buffer: list[StreamEntry] = field(default_factory=list)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, entries: list[StreamEntry]) -> None:
        last = _order(self.last_id)
        fresh = [e for e in entries if _order(e.id) > last]
        if fresh:
            self._buffer.extend(fresh)
            self._ready.set()

    async def next(self, timeout: float) -> list[StreamEntry]:
        """The entries that arrived since the last call; empty after ``timeout`` seconds
        without any (the caller's cue to send a keep-alive)."""
        if not self._buffer:
            # ``asyncio.timeout``, not ``wait_for``: no task of its own to wake first, so
            # an event reaches the reader one loop iteration sooner.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
        self._ready.clear()
        last = _order(self.last_id)
        out = [e for e in self._buffer if _order(e.id) > last]
        self._buffer.clear()
        out.sort(key=lambda e: _order(e.id))
        deduped: list[StreamEntry] = []
        for entry in out:
            if _order(entry.id) > last:
                deduped.append(entry)
                last = _order(entry.id)
        if deduped:
            self.last_id = deduped[-1].id
        return deduped


class StreamHub:
    """Reads every followed job stream with one ``XREAD BLOCK``."""

    def __init__(self, redis: Redis, *, block_ms: int = 10_000, count: int = 512) -> None:
        self._redis = redis
        self._block_ms = block_ms
        self._count = count
        self._wake_key = keys.stream_hub_wake(secrets.token_hex(8))
        self._wake_id = "$"
        self._followers: dict[str, set[Follower]] = {}
        # Per followed stream key: the id the hub's reads have reached.
        self._positions: dict[str, str] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stream-hub")

    async def stop(self) -> None:
        task = self._task
        if task is None:
            return
        # redis-py can absorb a cancellation that lands while a blocked read reconnects
        # (seen after a Redis restart): cancel until the task has really ended.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    @property
    def follower_count(self) -> int:
        return sum(len(f) for f in self._followers.values())

    @contextlib.asynccontextmanager
    async def follow(self, job_id: str, after: str = START) -> AsyncIterator[Follower]:
        """Follow ``job_id``'s stream from after event ``after``: registered with the hub,
        then caught up from Redis (may raise ``RedisError``)."""
        key = keys.job_stream(job_id)
        follower = Follower(job_id, after)
        new_key = key not in self._followers
        self._followers.setdefault(key, set()).add(follower)
        if new_key:
            self._positions[key] = after
        try:
            if new_key:
                await self._wake()
            await self._catch_up(key, follower)
            yield follower
        finally:
            followers = self._followers.get(key)
            if followers is not None:
                followers.discard(follower)
                if not followers:
                    del self._followers[key]
                    self._positions.pop(key, None)

    async def _catch_up(self, key: str, follower: Follower) -> None:
        start = follower.last_id
        while True:
            raw: Any = await self._redis.xrange(key, min=f"({start}", max="+", count=self._count)
            entries = [decode(i, f) for i, f in raw]
            follower.push(entries)
            if len(entries) < self._count:
                return
            start = entries[-1].id

    async def _wake(self) -> None:
        self._changed.set()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self._wake_key, {"w": "1"}, maxlen=1, approximate=False)
            pipe.pexpire(self._wake_key, _WAKE_TTL_MS)
            await pipe.execute()

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                if not self._positions:
                    self._changed.clear()
                    await self._changed.wait()
                    continue
                await self._read_once()
                backoff = 0.1
            except RedisError as exc:
                log.warning("stream_hub_disconnected", error=str(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:
                # Anything else must not end the reader: every open stream depends on it.
                log.exception("stream_hub_failed", retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _read_once(self) -> None:
        streams: dict[Any, Any] = {self._wake_key: self._wake_id, **self._positions}
        self._changed.clear()
        reply: Any = await self._redis.xread(streams, count=self._count, block=self._block_ms)
        for raw_key, raw_entries in reply or []:
            key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
            entries = [decode(i, f) for i, f in raw_entries]
            if not entries:
                continue
            if key == self._wake_key:
                self._wake_id = entries[-1].id
                continue
            if key in self._positions:
                self._positions[key] = entries[-1].id
            for follower in self._followers.get(key, ()):
                follower.push(entries)
