"""``CircuitScripts``: the tool circuit's Lua (``tools/scripts/*.lua``, on the state machine
shared with the provider circuit, ``gateway/scripts/circuit.lua``), one typed method per
script, each owning its KEYS and ARGV order."""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from gateway import keys
from gateway.lua import register


class CircuitScripts:
    """The tool circuit's scripts, registered once on one client. Each method returns the
    script's reply (an awaitable of it on an asyncio client); ``client`` queues the call on
    a pipeline instead."""

    def __init__(self, redis: Redis | AsyncRedis) -> None:
        self._admit = register(redis, "tools/scripts/admit.lua")
        self._record = register(redis, "tools/scripts/record.lua")
        self._state = register(redis, "tools/scripts/state.lua")

    def admit(self, service: str, token: str, *, probe_lease_ms: int, probing_retry_ms: int) -> Any:
        """{1, 0} go, {2, 0} go as the probe, {0, ms} refused: retry in ms."""
        return self._admit(
            keys=[keys.tool_circuit(service)], args=[probe_lease_ms, token, probing_retry_ms]
        )

    def record(
        self,
        service: str,
        token: str,
        outcome: str,
        *,
        failure_threshold: int,
        reset_ms: int,
        ttl_ms: int,
    ) -> Any:
        """Report a call (``"ok"``, ``"fail"``, ``"neutral"``); the state after it."""
        return self._record(
            keys=[keys.tool_circuit(service)],
            args=[outcome, token, failure_threshold, reset_ms, ttl_ms],
        )

    def state(self, service: str, *, client: Any = None) -> Any:
        """{state, consecutive failures, ms until a probe}."""
        return self._state(keys=[keys.tool_circuit(service)], client=client)
