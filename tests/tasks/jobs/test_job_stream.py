"""The job stream against a real Redis: appends only by the lease holder, the terminal event
from every path that ends a job, and the stream hub's catch-up, fan-out and reconnects."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from gateway import keys
from tasks.jobs import stream
from tasks.jobs.record import JobRecord, JobStatus, JobType, new_job_id
from tasks.jobs.stream_hub import StreamHub
from tasks.jobs.sync_store import SyncJobStore
from tests.support.processes import RedisServer, free_port


def running_job(client: redis.Redis, store: SyncJobStore, *, streams: bool = True) -> str:
    """A streaming job claimed under the lease token "tok"."""
    record = JobRecord(
        id=new_job_id(),
        tenant="t",
        type=JobType.COMPLETION,
        status=JobStatus.QUEUED,
        request={"model": "m", "messages": []},
        created_at=0.0,
        stream="1" if streams else None,
    )
    client.hset(keys.job(record.id), mapping=record.to_redis())
    client.expire(keys.job(record.id), 600)
    claimed, why = store.claim(record.id, "tok")
    assert claimed is not None, why
    return record.id


def text_event(text: str) -> bytes:
    return stream.encode({"type": "text", "text": text})


def entries(client: redis.Redis, job_id: str) -> list[dict[str, object]]:
    return [stream.decode(i, f).event for i, f in client.xrange(keys.job_stream(job_id))]


def test_only_the_lease_holder_appends_and_the_stream_expires_with_the_record(
    isolated_redis: redis.Redis,
) -> None:
    store = SyncJobStore(isolated_redis)
    job_id = running_job(isolated_redis, store)
    assert store.append_stream(job_id, "tok", [text_event("a"), text_event("b")])
    assert not store.append_stream(job_id, "someone-else", [text_event("spliced")])
    assert [e["text"] for e in entries(isolated_redis, job_id)] == ["a", "b"]
    ttl = isolated_redis.pttl(keys.job_stream(job_id))
    assert 0 < ttl <= isolated_redis.pttl(keys.job(job_id)) + 50


def test_a_cancelled_job_refuses_further_events_and_ends_its_stream(
    isolated_redis: redis.Redis,
) -> None:
    store = SyncJobStore(isolated_redis)
    job_id = running_job(isolated_redis, store)
    assert store.append_stream(job_id, "tok", [text_event("a")])
    moved, _ = store.transition(job_id, {JobStatus.RUNNING}, JobStatus.CANCELLED)
    assert moved
    assert not store.append_stream(job_id, "tok", [text_event("late")])
    assert entries(isolated_redis, job_id) == [
        {"type": "text", "text": "a"},
        {"type": "done", "status": "cancelled"},
    ]


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED])
def test_finishing_appends_exactly_one_done_event(
    isolated_redis: redis.Redis, status: JobStatus
) -> None:
    store = SyncJobStore(isolated_redis)
    job_id = running_job(isolated_redis, store)
    assert store.finish(job_id, "tok", status)[0]
    assert not store.finish(job_id, "tok", status)[0]  # a duplicate finish is refused
    assert entries(isolated_redis, job_id) == [{"type": "done", "status": status.value}]


def test_a_job_that_does_not_stream_gets_no_stream(isolated_redis: redis.Redis) -> None:
    store = SyncJobStore(isolated_redis)
    job_id = running_job(isolated_redis, store, streams=False)
    assert store.finish(job_id, "tok", JobStatus.SUCCEEDED)[0]
    assert not isolated_redis.exists(keys.job_stream(job_id))


def test_a_job_given_up_after_losing_its_workers_ends_its_stream(
    isolated_redis: redis.Redis,
) -> None:
    store = SyncJobStore(isolated_redis, lease_seconds=0.05)
    job_id = running_job(isolated_redis, store)
    isolated_redis.hset(keys.job(job_id), "recoveries", 5)
    asyncio.run(asyncio.sleep(0.2))
    assert store.reap(recoveries_allowed=1) == (0, 1)
    assert entries(isolated_redis, job_id)[-1] == {"type": "done", "status": "failed"}


def test_the_stream_is_bounded(isolated_redis: redis.Redis) -> None:
    store = SyncJobStore(isolated_redis, stream_max_events=100)
    job_id = running_job(isolated_redis, store)
    for i in range(30):
        assert store.append_stream(job_id, "tok", [text_event(str(i))] * 20)
    # MAXLEN ~ trims whole macro nodes: near the bound, never far above it.
    assert isolated_redis.xlen(keys.job_stream(job_id)) < 300


async def _collect(follower: object, until: int, timeout: float = 10) -> list[str]:
    from tasks.jobs.stream_hub import Follower

    assert isinstance(follower, Follower)
    got: list[str] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < until and asyncio.get_running_loop().time() < deadline:
        got += [str(e.event["text"]) for e in await follower.next(0.5)]
    return got


def test_hub_followers_get_every_event_once_in_order_from_where_they_start(
    isolated_redis: redis.Redis, redis_server: RedisServer
) -> None:
    store = SyncJobStore(isolated_redis)
    job_id = running_job(isolated_redis, store)
    url = redis_server.url.rsplit("/", 1)[0] + "/1"

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        client = AsyncRedis.from_url(url)
        hub = StreamHub(client, block_ms=5000)
        await hub.start()
        try:
            for i in range(5):
                store.append_stream(job_id, "tok", [text_event(f"early{i}")])
            third = isolated_redis.xrange(keys.job_stream(job_id))[2][0].decode()
            async with (
                hub.follow(job_id) as whole,
                hub.follow(job_id, after=third) as late,
            ):
                # Written while both wait: the hub's blocked read must wake for them.
                async def produce() -> None:
                    for i in range(50):
                        await asyncio.to_thread(
                            store.append_stream, job_id, "tok", [text_event(f"live{i}")]
                        )

                producer = asyncio.create_task(produce())
                got_whole, got_late = await asyncio.gather(_collect(whole, 55), _collect(late, 52))
                await producer
            async with hub.follow(job_id) as replay:
                got_replay = await _collect(replay, 55)
            assert hub.follower_count == 0
            return got_whole, got_late, got_replay
        finally:
            await hub.stop()
            await client.aclose()

    whole, late, replay = asyncio.run(scenario())
    expected = [f"early{i}" for i in range(5)] + [f"live{i}" for i in range(50)]
    assert whole == expected
    assert late == expected[3:]
    assert replay == expected


def test_hub_resumes_after_redis_restarts_without_losing_events(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    server = RedisServer(free_port(), tmp_path / "redis", tmp_path / "redis.log").start()
    sync = redis.Redis.from_url(server.url)
    store = SyncJobStore(sync)
    job_id = running_job(sync, store)

    async def scenario() -> list[str]:
        client = AsyncRedis.from_url(server.url)
        hub = StreamHub(client, block_ms=1000)
        await hub.start()
        try:
            async with hub.follow(job_id) as follower:
                store.append_stream(job_id, "tok", [text_event("before")])
                got = await _collect(follower, 1)
                # Restart Redis (AOF keeps the stream); events written after it come through.
                await asyncio.to_thread(server.stop)
                await asyncio.to_thread(server.start)
                fresh = redis.Redis.from_url(server.url)
                SyncJobStore(fresh).append_stream(job_id, "tok", [text_event("after")])
                fresh.close()
                got += await _collect(follower, 1, timeout=30)
                return got
        finally:
            await hub.stop()
            await client.aclose()

    try:
        assert asyncio.run(scenario()) == ["before", "after"]
    finally:
        sync.close()
        server.stop()


def test_entries_decode_whatever_redis_py_returns() -> None:
    event = {"type": "text", "text": "x"}
    raw = orjson.dumps(event)
    assert stream.decode(b"1-2", {b"e": raw}).event == event
    assert stream.decode("1-2", {"e": raw.decode()}).id == "1-2"
    assert stream.decode(b"1-3", {b"other": b"1"}).event == {}
