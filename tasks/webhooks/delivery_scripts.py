"""``DeliveryScripts``: the webhook deliveries' Lua (``tasks/webhooks/scripts/*.lua``), one
typed method per script, each owning its KEYS and ARGV order. (A delivery is scheduled by
the script that ends its job or batch: ``tasks/jobs/scripts/on_terminal.lua``.)"""

from __future__ import annotations

from typing import Any

from redis import Redis

from gateway import keys
from gateway.lua import register


class DeliveryScripts:
    """The delivery scripts, registered once on one (sync) client."""

    def __init__(self, redis: Redis) -> None:
        self._take_due = register(redis, "tasks/webhooks/scripts/take_due.lua")
        self._record = register(redis, "tasks/webhooks/scripts/record.lua")

    def take_due(self, limit: int, lease_ms: int) -> tuple[list[Any], int]:
        """Up to ``limit`` due members ("job:<id>" / "batch:<id>"), each re-scored
        ``lease_ms`` ahead, and the ms until the next member is due (-1: none)."""
        due, next_due_ms = self._take_due(keys=[keys.WEBHOOKS_DUE], args=[limit, lease_ms])
        return list(due), int(next_due_ms)

    def record(
        self,
        record_key: str,
        member: str,
        *,
        attempt_count: int,
        attempt: bytes,
        outcome: str,
        retry_ms: int,
    ) -> bool:
        """Record one attempt (JSON ``attempt``) made at ``attempt_count`` with ``outcome``
        ("delivered", "retry", "dead"); False when another copy recorded first or the
        delivery is no longer pending."""
        recorded = self._record(
            keys=[record_key, keys.WEBHOOKS_DUE, keys.WEBHOOKS_DEAD],
            args=[member, attempt_count, attempt, outcome, retry_ms],
        )
        return bool(recorded)
