"""``ReplicaWait``: a write confirmed only once a replica holds it; too few replicas in time
is the 503 a submit answers (the API side is in tests/gateway/test_redis_failover.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis

from gateway.errors import NotReplicated
from gateway.replica_wait import ReplicaWait
from tests.support.processes import RedisServer, free_port, wait_until


def confirm_after_a_write(url: str, wait: ReplicaWait) -> None:
    async def run() -> None:
        client = Redis.from_url(url)
        async with client.client() as connection:
            await connection.set("replica-wait-probe", "1")
            await wait.confirm(connection)
        await client.aclose()

    asyncio.run(run())


def test_a_write_no_replica_confirms_in_time_is_not_replicated(tmp_path: Path) -> None:
    alone = RedisServer(free_port(), tmp_path / "alone", tmp_path / "alone.log").start()
    try:
        with pytest.raises(NotReplicated) as raised:
            confirm_after_a_write(alone.url, ReplicaWait(replicas=1, timeout_ms=50))
        assert raised.value.status_code == 503
        assert "0 of 1 replicas" in raised.value.message
    finally:
        alone.stop()


def test_a_write_a_replica_holds_is_confirmed(tmp_path: Path) -> None:
    master = RedisServer(free_port(), tmp_path / "master", tmp_path / "master.log").start()
    replica = RedisServer(
        free_port(),
        tmp_path / "replica",
        tmp_path / "replica.log",
        extra_args=("--replicaof", "127.0.0.1", str(master.port)),
    ).start()
    try:
        probe = redis.Redis.from_url(replica.url)
        wait_until(lambda: probe.info("replication")["master_link_status"] == "up", 20, "sync")
        confirm_after_a_write(master.url, ReplicaWait(replicas=1, timeout_ms=5000))
        assert probe.get("replica-wait-probe") == b"1"
        probe.close()
    finally:
        replica.stop()
        master.stop()


def test_no_wait_configured_is_off() -> None:
    assert not ReplicaWait().enabled and ReplicaWait(replicas=2).enabled
