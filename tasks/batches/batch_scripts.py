"""``BatchScripts``: the batch record's Lua (``tasks/batches/scripts/*.lua``), one typed
method per script, each owning its KEYS and ARGV order."""

from __future__ import annotations

import time
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from gateway import keys
from gateway.lua import register


class BatchScripts:
    """The batch scripts, registered once on one client. Each method returns the script's
    reply (an awaitable of it on an asyncio client)."""

    def __init__(self, redis: Redis | AsyncRedis) -> None:
        self._cancel = register(redis, "tasks/batches/scripts/cancel.lua")
        self._running = register(redis, "tasks/batches/scripts/running.lua")

    def cancel(self, batch_id: str) -> Any:
        """Cancel the batch's unfinished jobs if it is in progress; its status before."""
        return self._cancel(
            keys=[keys.batch(batch_id), keys.batch_jobs(batch_id), keys.WEBHOOKS_DUE],
            args=[repr(time.time()), keys.JOB_DONE_CHANNEL],
        )

    def running(self, batch_id: str) -> Any:
        """How many of the batch's jobs are running."""
        return self._running(keys=[keys.batch_jobs(batch_id)])
