"""Following one job as the events a client sees: its stream's entries as they arrive, a
keep-alive saying where the job is whenever nothing arrived for a while, and the end.

Proxies with idle timeouts cut connections that carry nothing for 30-60 s; a job can wait
that long in its queue or for provider capacity, so the follower speaks up every
``keepalive_seconds`` with a comment naming the job and its place in line.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from api.services import ApiServices
from tasks.jobs.record import JobRecord
from tasks.jobs.stream import StreamEntry
from tasks.jobs.stream_hub import START


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """Nothing new for a while: ``comment`` says where the job is."""

    comment: str


Followed = list[StreamEntry] | KeepAlive


async def follow_job(
    services: ApiServices, record: JobRecord, after: str = START
) -> AsyncGenerator[Followed, None]:
    """Batches of the job's events after ``after`` and keep-alives, ending after the
    ``done`` event, or when the record is gone. A job that does not stream has no events
    but its terminal one, which is made from the record when it finishes."""
    keepalive = services.settings.stream_keepalive_seconds
    if record.stream != "1":
        async for item in _follow_record(services, record, keepalive):
            yield item
        return
    async with services.streams.follow(record.id, after) as follower:
        while True:
            entries = await follower.next(keepalive)
            if entries:
                yield entries
                if any(e.type == "done" for e in entries):
                    return
                continue
            where = await services.store.whereabouts(record.id)
            if where is None:
                return  # expired: nothing more will come
            yield KeepAlive(f"job {record.id} {where}")


async def _follow_record(
    services: ApiServices, record: JobRecord, keepalive: float
) -> AsyncIterator[Followed]:
    with services.hub.watch(record.id) as finished:
        while True:
            current = await services.store.get_any(record.id)
            if current is None:
                return
            if current.status.terminal:
                yield [StreamEntry("1-0", {"type": "done", "status": current.status.value})]
                return
            try:
                await asyncio.wait_for(finished.wait(), keepalive)
            except TimeoutError:
                where = await services.store.whereabouts(record.id)
                if where is None:
                    return
                yield KeepAlive(f"job {record.id} {where}")
