"""Commands packed by hiredis in one call: the same bytes on the wire as redis-py's own
serializer for what the gateway sends, redis-py's errors for what it refuses, and the
gateway's clients (sync and asyncio) using it against a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis._parsers.encoders import Encoder
from redis.connection import PythonRespSerializer

from gateway.redis_connect import RedisEndpoint
from gateway.redis_packing import HiredisPacker
from gateway.settings import Settings
from tests.support.processes import RedisServer
from workers.runtime import outage_retry

ENCODER = Encoder("utf-8", "strict", False)  # type: ignore[no-untyped-call]
REDIS_PY = PythonRespSerializer(6000, ENCODER.encode)


class RedisPy:
    """redis-py's own serializer, typed."""

    def pack(self, *args: Any) -> list[bytes | memoryview]:
        packed: list[bytes | memoryview] = REDIS_PY.pack(*args)  # type: ignore[no-untyped-call]
        return packed


def wire(chunks: list[bytes | memoryview]) -> bytes:
    return b"".join(bytes(chunk) for chunk in chunks)


@pytest.mark.parametrize(
    "command",
    [
        ("EVALSHA", "a" * 40, 2, "job:1", "queue:q", "välue ✓", 0, -7, 1.5, 1e20, 0.1, b"\x00\xff"),
        ("SCRIPT LOAD", "return 1"),
        (b"CLIENT SETNAME", "gw"),
        ("HSET", "k", "f", ""),
    ],
)
def test_the_bytes_sent_are_redis_pys_own(command: tuple[object, ...]) -> None:
    assert wire(HiredisPacker(RedisPy()).pack(*command)) == wire(RedisPy().pack(*command))


@pytest.fixture
def endpoint(redis_server: RedisServer) -> RedisEndpoint:
    return RedisEndpoint.from_settings(Settings(_env_file=None, redis_url=redis_server.url))


@pytest.fixture
def client(endpoint: RedisEndpoint) -> Iterator[redis.Redis]:
    sync = endpoint.sync_client(max_connections=2, retry=outage_retry(0))
    yield sync
    sync.close()


def test_the_workers_client_packs_with_hiredis_and_round_trips_every_type(
    client: redis.Redis,
) -> None:
    assert client.connection_pool.connection_class.__name__.startswith("HiredisPacked")
    client.hset("packing:h", mapping={"text": "välue ✓", "int": 42, "float": 0.25, "raw": b"\xff"})
    client.hset("packing:h", "array", bytearray(b"ab"))  # refused by hiredis: redis-py packs it
    client.hset("packing:h", "view", memoryview(b"cd"))
    assert client.hgetall("packing:h") == {
        b"text": "välue ✓".encode(),
        b"int": b"42",
        b"float": b"0.25",
        b"raw": b"\xff",
        b"array": b"ab",
        b"view": b"cd",
    }
    script = client.register_script("return {ARGV[1], ARGV[2], #KEYS}")
    assert script(keys=["packing:a", "packing:b"], args=["x", 3]) == [b"x", b"3", 2]


@pytest.mark.parametrize("value", [None, True, object()])
def test_what_redis_py_refuses_is_still_refused_with_its_error(
    client: redis.Redis, value: object
) -> None:
    with pytest.raises(redis.DataError):
        client.set("packing:refused", value)  # type: ignore[arg-type]
    assert client.ping()  # nothing half-sent: the connection still works


def test_the_apis_asyncio_client_packs_with_hiredis(endpoint: RedisEndpoint) -> None:
    async def round_trip() -> tuple[str, object]:
        client = endpoint.async_client(max_connections=2, health_check_interval=30)
        try:
            await client.set("packing:async", "välue")
            name = client.connection_pool.connection_class.__name__
            return name, await client.get("packing:async")
        finally:
            await client.aclose()

    name, value = asyncio.run(round_trip())
    assert name.startswith("HiredisPacked") and value == "välue".encode()
