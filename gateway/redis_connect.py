"""Where the gateway's Redis is: one URL, or the master a set of Sentinels names.

Every Redis client of the API and the workers is built here, so that with
``LLM_GATEWAY_REDIS_SENTINELS`` set all of them follow a failover: a Sentinel-managed
connection asks the Sentinels for the current master each time it (re)connects, and a
connection to a master that died or was demoted fails and is replaced. Celery's broker
takes the same addresses (``workers.celery_app``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis import sentinel as sync_sentinel
from redis.asyncio import BlockingConnectionPool
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio import sentinel as async_sentinel
from redis.asyncio.connection import parse_url
from redis.retry import Retry

from gateway.redis_packing import hiredis_packing
from gateway.settings import Settings

# A Sentinel that does not answer within this is skipped for the next one: a dead
# Sentinel pod must not stall a reconnect behind the OS's connect timeout.
SENTINEL_SOCKET_SECONDS = 1.0
# Likewise the master it names: after a failover the old address may be a dead pod's.
MASTER_CONNECT_SECONDS = 2.0


class _SentinelConnection(sync_sentinel.SentinelManagedConnection):
    """Reconnects through the Sentinels also when a command's retry reconnects.

    redis-py sends a command on a closed connection by reconnecting to the address it
    last had, not by asking the Sentinels again: a worker's retry (``outage_retry``)
    kept dialling the dead master for its whole 30 s budget while the Sentinels had
    named the new one within seconds (found by tests/gateway/test_redis_failover.py)."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self._sock:
            self.connect()  # type: ignore[no-untyped-call]
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


class _AsyncSentinelConnection(async_sentinel.SentinelManagedConnection):
    """The same for the API's asyncio client."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self.is_connected:
            await self.connect()  # type: ignore[no-untyped-call]
        await super().send_packed_command(command, check_health)


@dataclass(frozen=True, slots=True)
class RedisEndpoint:
    """The gateway's Redis as the settings give it."""

    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = "mymaster"
    sentinel_password: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisEndpoint:
        password = settings.redis_sentinel_password
        return cls(
            url=settings.redis_url,
            sentinels=settings.sentinels,
            master=settings.redis_sentinel_master,
            sentinel_password=password.get_secret_value() if password else None,
        )

    @property
    def uses_sentinel(self) -> bool:
        return bool(self.sentinels)

    def data_node_kwargs(self) -> dict[str, Any]:
        """What the URL says besides where: database, username, password, URL options.
        Its host and port are the Sentinels' to say."""
        kwargs: dict[str, Any] = dict(parse_url(self.url))
        for where in ("host", "port", "path", "connection_class"):
            kwargs.pop(where, None)
        return kwargs

    def sentinel_kwargs(self) -> dict[str, Any]:
        """Options of the connections to the Sentinels themselves."""
        kwargs: dict[str, Any] = {
            "socket_timeout": SENTINEL_SOCKET_SECONDS,
            "socket_connect_timeout": SENTINEL_SOCKET_SECONDS,
        }
        if self.sentinel_password:
            kwargs["password"] = self.sentinel_password
        return kwargs

    def async_client(self, *, max_connections: int, health_check_interval: int) -> AsyncRedis:
        """The API's client. Without Sentinel its pool blocks for a connection (a burst of
        waiters waking at once waits instead of failing with "too many connections");
        redis-py has no blocking Sentinel pool, so with Sentinel that burst can fail."""
        if not self.uses_sentinel:
            pool = BlockingConnectionPool.from_url(
                self.url,
                max_connections=max_connections,
                timeout=10,
                health_check_interval=health_check_interval,
            )
            # Connections are made on demand, each of the class the URL chose, packed fast.
            pool.connection_class = hiredis_packing(pool.connection_class)
            return AsyncRedis(connection_pool=pool)
        manager = async_sentinel.Sentinel(
            list(self.sentinels), sentinel_kwargs=self.sentinel_kwargs()
        )
        client: AsyncRedis = manager.master_for(
            self.master,
            redis_class=AsyncRedis,
            connection_class=hiredis_packing(_AsyncSentinelConnection),
            max_connections=max_connections,
            health_check_interval=health_check_interval,
            socket_connect_timeout=MASTER_CONNECT_SECONDS,
            **self.data_node_kwargs(),
        )
        return client

    def sync_client(self, *, max_connections: int, retry: Retry) -> Redis:
        """A worker's client; ``retry`` rides out an outage, a failover included."""
        if not self.uses_sentinel:
            client = Redis.from_url(self.url, max_connections=max_connections, retry=retry)
            pool = client.connection_pool
            pool.connection_class = hiredis_packing(pool.connection_class)
            return client
        manager = sync_sentinel.Sentinel(
            list(self.sentinels), sentinel_kwargs=self.sentinel_kwargs()
        )
        sentinel_client: Redis = manager.master_for(
            self.master,
            redis_class=Redis,
            connection_class=hiredis_packing(_SentinelConnection),
            max_connections=max_connections,
            retry=retry,
            socket_connect_timeout=MASTER_CONNECT_SECONDS,
            **self.data_node_kwargs(),
        )
        return sentinel_client
