"""The cluster figures' script against a real Redis (a database no worker touches): what
counts in an instance's backlog, and the repair of its index of deferred jobs."""

from __future__ import annotations

import asyncio
import time

import redis
from redis.asyncio import Redis as AsyncRedis

from api.cluster_metrics import CIRCUIT_HALF_OPEN, CIRCUIT_OPEN, ClusterMetrics, ClusterSnapshot
from gateway import keys
from gateway.queues import instance_queue, queue_key
from gateway.settings import DEFAULT_PROVIDERS_FILE
from providers.config import load_providers
from tests.support.processes import free_port

DAY_MS = 86_400_000


def snapshot(isolated_redis: redis.Redis) -> ClusterSnapshot:
    url = isolated_redis.connection_pool.connection_kwargs
    providers = load_providers(DEFAULT_PROVIDERS_FILE)

    async def read() -> ClusterSnapshot | None:
        client = AsyncRedis(host=url["host"], port=url["port"], db=url["db"])
        try:
            return await ClusterMetrics(client, providers.instances.values(), 5).refresh()
        finally:
            await client.aclose()

    result = asyncio.run(read())
    assert result is not None
    return result


def test_backlog_is_the_lists_plus_the_instances_deferred_jobs(
    isolated_redis: redis.Redis,
) -> None:
    now_ms = int(time.time() * 1000)
    queue = instance_queue("openai")
    isolated_redis.rpush(queue_key(queue, 0), "m1", "m2")
    isolated_redis.rpush(queue_key(queue, 9), "m3")
    for job in ("waits", "retries"):
        isolated_redis.zadd(keys.DEFERRED, {job: now_ms + 5000})
        isolated_redis.zadd(keys.limit("openai", "deferred"), {job: now_ms + 5000})
    isolated_redis.zadd(keys.limit("openai", "waiting:until"), {"waits": now_ms + 20_000})
    isolated_redis.zadd(keys.limit("openai", "inflight"), {"a": now_ms + 9000, "old": 1})

    figures = snapshot(isolated_redis).instances
    assert figures["openai"].backlog == 5
    assert figures["openai"].waiting == 1
    assert figures["openai"].in_flight == 1  # a lapsed lease is no call
    assert figures["anthropic"].backlog == 0


def test_an_index_entry_long_overdue_whose_job_left_the_deferred_set_is_dropped(
    isolated_redis: redis.Redis,
) -> None:
    index = keys.limit("openai", "deferred")
    # Both were due a day ago: one is still deferred (no worker pumps it: it counts), the
    # other left the deferred set without leaving the index (it must not count for ever).
    isolated_redis.zadd(keys.DEFERRED, {"unpumped": int(time.time() * 1000) - DAY_MS})
    isolated_redis.zadd(index, {"unpumped": 1, "stray": 1})

    assert snapshot(isolated_redis).instances["openai"].backlog == 1
    assert isolated_redis.zrange(index, 0, -1) == [b"unpumped"]


def test_circuit_states_and_live_workers(isolated_redis: redis.Redis) -> None:
    now_ms = int(time.time() * 1000)
    isolated_redis.hset(keys.circuit("openai"), mapping={"state": "open", "until": now_ms + DAY_MS})
    isolated_redis.hset(keys.circuit("anthropic"), mapping={"state": "open", "until": 1})
    isolated_redis.zadd(
        keys.WORKERS,
        {
            keys.worker_member("a@h", ["llm.openai", "llm.tools"]): time.time(),
            keys.worker_member("b@h", ["llm.openai"]): time.time(),
            keys.worker_member("gone@h", ["llm.anthropic"]): time.time() - 3600,
        },
    )
    snap = snapshot(isolated_redis)
    assert snap.instances["openai"].circuit == CIRCUIT_OPEN
    # Past its reset time: the next call probes.
    assert snap.instances["anthropic"].circuit == CIRCUIT_HALF_OPEN
    assert snap.workers_alive["llm.openai"] == 2
    assert snap.workers_alive["llm.tools"] == 1
    assert snap.workers_alive["llm.anthropic"] == 0
    assert snap.webhook_dead_letters == 0


def test_without_redis_the_scrape_leaves_the_cluster_gauges_out() -> None:
    providers = load_providers(DEFAULT_PROVIDERS_FILE)

    async def read() -> tuple[ClusterSnapshot | None, int]:
        # Nothing listens there: the connection is refused at once.
        client = AsyncRedis(port=free_port(), socket_connect_timeout=1)
        try:
            cluster = ClusterMetrics(client, providers.instances.values(), 5)
            return await cluster.refresh(), len(list(cluster.collect()))
        finally:
            await client.aclose()

    assert asyncio.run(read()) == (None, 0)
