"""Where Redis is: the Sentinel settings, what the URL still says behind Sentinels, and
clients built through real Sentinels that reach the master they name."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
from pydantic import ValidationError

from gateway.redis_connect import RedisEndpoint
from gateway.settings import Settings
from tests.support.processes import free_port
from tests.support.sentinel_group import MASTER_NAME, SentinelGroup
from workers.runtime import outage_retry


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_sentinels_parse_as_host_port_pairs_with_the_sentinel_port_as_default() -> None:
    s = settings(redis_sentinels=" s1:26380, s2 ,[::1]:5000")
    assert s.sentinels == (("s1", 26380), ("s2", 26379), ("::1", 5000))
    assert settings().sentinels == ()


@pytest.mark.parametrize("value", ["s1:port", "s1:0", ":26379", "s1:70000"])
def test_a_malformed_sentinel_address_is_refused_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="Sentinel address"):
        settings(redis_sentinels=value)


def test_behind_sentinels_the_url_gives_database_and_credentials_not_the_address() -> None:
    endpoint = RedisEndpoint.from_settings(
        settings(redis_url="redis://gw:s3cret@ignored.example:6390/3", redis_sentinels="s:1")
    )
    assert endpoint.data_node_kwargs() == {"username": "gw", "password": "s3cret", "db": 3}
    assert endpoint.uses_sentinel
    assert "password" not in endpoint.sentinel_kwargs()


def test_the_sentinel_password_goes_to_the_sentinels_only() -> None:
    endpoint = RedisEndpoint.from_settings(
        settings(redis_sentinels="s:1", redis_sentinel_password="sentinel-pw")
    )
    assert endpoint.sentinel_kwargs()["password"] == "sentinel-pw"
    assert "password" not in endpoint.data_node_kwargs()


def test_clients_built_through_sentinels_write_to_the_master_they_name(tmp_path: Path) -> None:
    group = SentinelGroup(tmp_path).start()
    try:
        endpoint = RedisEndpoint.from_settings(
            settings(**{k.removeprefix("LLM_GATEWAY_").lower(): v for k, v in group.env().items()})
        )
        assert endpoint.master == MASTER_NAME
        sync = endpoint.sync_client(max_connections=4, retry=outage_retry(1))
        sync.set("written-through", "sync")
        sync.close()

        async def write_async() -> None:
            client = endpoint.async_client(max_connections=4, health_check_interval=30)
            await client.set("written-through-async", "async")
            await client.aclose()

        asyncio.run(write_async())
        assert group.master is not None
        master = redis.Redis.from_url(group.master.url)
        assert master.get("written-through") == b"sync"
        assert master.get("written-through-async") == b"async"
        master.close()
    finally:
        group.stop()


def test_no_sentinel_answering_is_a_connection_error_the_api_turns_into_a_503() -> None:
    endpoint = RedisEndpoint.from_settings(settings(redis_sentinels=f"127.0.0.1:{free_port()}"))
    client = endpoint.sync_client(max_connections=2, retry=outage_retry(0))
    with pytest.raises(redis.ConnectionError):
        client.ping()
    client.close()
