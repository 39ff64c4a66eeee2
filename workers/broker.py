"""The workers' Redis broker transport: kombu's, able to close a connection Redis dropped.

With Celery 5.7 / kombu 5.7, a worker whose broker connection breaks while tasks are
running dies ("Unrecoverable error: AttributeError: 'NoneType' object has no attribute
'hostname'") instead of reconnecting. On the connection error the consumer first
*collects* the connection, which detaches the transport from its ``Connection``, then
closes it; closing the channel restores the running tasks' unacknowledged messages,
which builds a new client pool from the detached (``None``) connection info. The worker
then stops, its in-flight replies are lost, and every one of its jobs is called again
after its lease lapses.

Here each channel keeps the connection parameters it was first opened with, so that
close, and the running tasks' late acknowledgements after the reconnect, find Redis
again. Celery selects this transport through ``broker_transport``
(``workers.celery_app``); ``SentinelTransport`` is the same for kombu's Sentinel
transport, whose channel also remembers the Sentinels' addresses (kombu reads them from
the same detached connection).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    """A kombu Redis channel that remembers where its broker is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before kombu's __init__, which opens the first pool.
        self._remembered: dict[bool, dict[str, Any]] = {}
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None and asynchronous in self._remembered:
            # Detached by ``Connection.collect`` after the connection broke: the
            # parameters are still those of the same broker.
            return dict(self._remembered[asynchronous])
        params: dict[str, Any] = super()._connparams(asynchronous)  # type: ignore[no-untyped-call]
        self._remembered[asynchronous] = dict(params)
        return params


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with ``Channel`` above."""

    Channel = Channel


class _DetachedClient:
    """Stands in for a detached connection where kombu looks up the Sentinels."""

    def __init__(self, alt: list[str]) -> None:
        self.alt = alt


class SentinelChannel(kombu_redis.SentinelChannel):
    """kombu's Sentinel channel that remembers its broker (parameters and Sentinels)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._remembered: dict[bool, dict[str, Any]] = {}
        self._sentinel_urls: list[str] = []
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        detached = self.connection.client is None or isinstance(
            self.connection.client, _DetachedClient
        )
        if detached and asynchronous in self._remembered:
            return dict(self._remembered[asynchronous])
        params: dict[str, Any] = super()._connparams(asynchronous)  # type: ignore[no-untyped-call]
        self._remembered[asynchronous] = dict(params)
        return params

    def _sentinel_managed_pool(self, asynchronous: bool = False) -> Any:
        client = self.connection.client
        if client is not None:
            self._sentinel_urls = list(client.alt)
            return super()._sentinel_managed_pool(asynchronous)  # type: ignore[no-untyped-call]
        # kombu reads ``connection.client.alt``: give it the Sentinels it was opened with.
        self.connection.client = _DetachedClient(self._sentinel_urls)
        try:
            return super()._sentinel_managed_pool(asynchronous)  # type: ignore[no-untyped-call]
        finally:
            self.connection.client = None


class SentinelTransport(kombu_redis.SentinelTransport):
    """kombu's Sentinel transport with ``SentinelChannel`` above."""

    Channel = SentinelChannel
