"""``SessionScripts``: the session's Lua (``tasks/sessions/scripts/*.lua``), one typed
method per script, each owning its KEYS and ARGV order. (A job's finish appends to its
session in the job's own script, ``tasks/jobs/scripts/finish_in_session.lua``.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from gateway.lua import register
from tasks.sessions.record import session_keys


class SessionScripts:
    """The session scripts, registered once on one client. Each method returns the
    script's reply (an awaitable of it on an asyncio client)."""

    def __init__(self, redis: Redis | AsyncRedis) -> None:
        self._delete = register(redis, "tasks/sessions/scripts/delete.lua")
        self._update_context = register(redis, "tasks/sessions/scripts/update_context.lua")

    def delete(self, session_id: str, tenant: str) -> Any:
        """1 when ``tenant``'s session was deleted, 0 when missing or another tenant's."""
        return self._delete(keys=session_keys(session_id), args=[tenant])

    def update_context(self, session_id: str, tenant: str, patch: Mapping[str, Any]) -> Any:
        """Merge ``patch`` (a ``None`` value deletes the key) and renew the expiries: 1, or
        0 when the session is missing or another tenant's."""
        args = [tenant]
        for name, value in patch.items():
            # "" is never valid JSON: it marks a deletion.
            args += [name, "" if value is None else orjson.dumps(value).decode()]
        return self._update_context(keys=session_keys(session_id), args=args)
