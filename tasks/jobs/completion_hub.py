"""``CompletionHub``: one Redis subscription per API process fans job completions out to
every waiter, so thousands of ``wait`` calls cost one connection and no polling.

A waiter registers *before* it reads the record, so a completion published between the
read and the registration cannot be missed; after a reconnect every waiter re-checks its
record, since messages published while disconnected are gone.

A notice is ``<job id> <status>``, with the finished record after it when the script that
ended the job could add it (a small record, ended by its worker: ``end_held.lua``); the
waiter then has the record without reading it back (``Completion.record``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator

import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway import keys

log = structlog.get_logger(__name__)

# Which of these jobs are terminal (used to re-check every waiter after a reconnect).
AreTerminal = Callable[[list[str]], Awaitable[list[bool]]]


class Completion(asyncio.Event):
    """Set when the job finishes; ``record`` is the finished record's hash when the notice
    carried it (a JSON array of field, value, ...), else empty: read the record then."""

    def __init__(self) -> None:
        super().__init__()
        self.record = b""


class CompletionHub:
    """Waits for job completions announced on ``keys.JOB_DONE_CHANNEL``."""

    def __init__(self, redis: Redis, are_terminal: AreTerminal) -> None:
        self._redis = redis
        self._are_terminal = are_terminal
        self._waiters: dict[str, set[Completion]] = {}
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="completion-hub")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def waiter_count(self) -> int:
        return sum(len(v) for v in self._waiters.values())

    @contextlib.contextmanager
    def watch(self, job_id: str) -> Iterator[Completion]:
        """Register interest in ``job_id``; the event is set when the job finishes."""
        event = Completion()
        self._waiters.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._waiters.get(job_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiters[job_id]

    def _notify(self, job_id: str, record: bytes = b"") -> None:
        for event in self._waiters.get(job_id, ()):
            event.record = record
            event.set()

    def _on_notice(self, data: bytes | str) -> None:
        # Bytes throughout: only the id is decoded, and only a waiter's record is parsed
        # (by the waiter), so no notice can break the listener.
        raw = data.encode() if isinstance(data, str) else data
        job_id, _, rest = raw.partition(b" ")
        _status, _, record = rest.partition(b" ")
        self._notify(job_id.decode(errors="replace"), record)

    async def _recheck_all(self) -> None:
        waiting = list(self._waiters)
        for job_id, done in zip(waiting, await self._are_terminal(waiting), strict=True):
            if done:
                self._notify(job_id)

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(keys.JOB_DONE_CHANNEL)
                self._subscribed.set()
                backoff = 0.1
                await self._recheck_all()
                async for message in pubsub.listen():
                    data = message.get("data")
                    if isinstance(data, bytes | str):
                        self._on_notice(data)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("completion_hub_disconnected", error=str(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:
                # Anything else must not end the listener: every waiter depends on it.
                log.exception("completion_hub_failed", retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                # redis-py < 8.2 leaves PubSub.aclose untyped; binding it to a typed name keeps
                # this call checked on every version (no version-dependent `type: ignore`).
                close_pubsub: Callable[[], Awaitable[object]] = pubsub.aclose
                with contextlib.suppress(Exception):
                    await close_pubsub()
