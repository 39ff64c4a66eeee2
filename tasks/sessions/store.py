"""Session stores: ``SessionStore`` for the API (async) and ``SyncSessionStore`` for worker
threads. Tenancy is enforced here: another tenant's session is indistinguishable from a
missing one, and every check-then-act happens inside one Lua script."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import structlog
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.errors import ServiceUnavailable, SessionNotFound
from gateway.redis_replies import optional_text, text
from tasks.sessions.record import (
    Session,
    is_session_id,
    new_session_id,
    queue_session_reads,
    session_from_redis,
    session_keys,
)
from tasks.sessions.session_scripts import SessionScripts

log = structlog.get_logger(__name__)


@contextmanager
def _store_available(action: str, session_id: str) -> Iterator[None]:
    """Redis failures leave the store as a 503, not as a foreign exception."""
    try:
        yield
    except RedisError as exc:
        log.error(
            "session_store_failed", action=action, session_id=session_id, error=type(exc).__name__
        )
        raise ServiceUnavailable("the session store is unavailable; try again") from exc


def _not_found(session_id: str) -> SessionNotFound:
    return SessionNotFound(f"no session {session_id[:64]!r}")


class SessionStore:
    """Create, read, delete sessions and merge into their context (the API side)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._scripts = SessionScripts(redis)

    async def create(
        self,
        tenant: str,
        *,
        ttl_seconds: int,
        system: str | None = None,
        context: dict[str, Any] | None = None,
        context_budget_tokens: int,
        metadata: dict[str, Any] | None = None,
        messages: list[dict[str, Any]] | None = None,
    ) -> Session:
        """A new session holding ``messages`` as its initial history; all keys are written
        in one transaction."""
        now = time.time()
        session = Session(
            id=new_session_id(),
            tenant=tenant,
            created_at=now,
            ttl_seconds=ttl_seconds,
            expires_at=now + ttl_seconds,
            system=system,
            context=dict(context or {}),
            context_budget_tokens=context_budget_tokens,
            metadata=dict(metadata or {}),
            messages=list(messages or []),
        )
        header_key, messages_key, context_key = session_keys(session.id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(header_key, mapping={k: v for k, v in session.header().items()})
        if session.messages:
            pipe.rpush(messages_key, *(orjson.dumps(m) for m in session.messages))
        if session.context:
            pipe.hset(
                context_key,
                mapping={k: orjson.dumps(v) for k, v in session.context.items()},
            )
        for key in (header_key, messages_key, context_key):
            pipe.pexpire(key, ttl_seconds * 1000)
        with _store_available("create", session.id):
            await pipe.execute()
        return session

    async def get(self, session_id: str, tenant: str) -> Session:
        """The session, in one round trip; ``SessionNotFound`` if missing or not ``tenant``'s."""
        if not is_session_id(session_id):
            raise _not_found(session_id)
        pipe = self._redis.pipeline(transaction=True)
        queue_session_reads(pipe, session_id)
        with _store_available("get", session_id):
            header, messages, context, pttl = await pipe.execute()
        if _tenant_of(header) != tenant:
            raise _not_found(session_id)
        return session_from_redis(session_id, header, messages, context, int(pttl))

    async def exists(self, session_id: str, tenant: str) -> bool:
        """Whether ``tenant`` has a live session ``session_id``."""
        if not is_session_id(session_id):
            return False
        with _store_available("exists", session_id):
            owner = await self._redis.hget(session_keys(session_id)[0], "tenant")
        return owner is not None and text(owner) == tenant

    async def delete(self, session_id: str, tenant: str) -> None:
        """Remove the session; ``SessionNotFound`` if missing or not ``tenant``'s."""
        if not is_session_id(session_id):
            raise _not_found(session_id)
        with _store_available("delete", session_id):
            deleted = await self._scripts.delete(session_id, tenant)
        if int(deleted) != 1:
            raise _not_found(session_id)

    async def update_context(self, session_id: str, tenant: str, patch: dict[str, Any]) -> Session:
        """Merge ``patch`` into the context (a ``None`` value deletes that key), renew the
        expiry, and return the session as it is then."""
        if not is_session_id(session_id):
            raise _not_found(session_id)
        with _store_available("update_context", session_id):
            updated = await self._scripts.update_context(session_id, tenant, patch)
        if int(updated) != 1:
            raise _not_found(session_id)
        return await self.get(session_id, tenant)


class SyncSessionStore:
    """Read sessions from worker threads (blocking redis-py)."""

    def __init__(self, redis: SyncRedis) -> None:
        self._redis = redis

    def load(self, session_id: str, tenant: str) -> Session | None:
        """The session in one round trip, or None if missing or not ``tenant``'s."""
        if not is_session_id(session_id):
            return None
        pipe = self._redis.pipeline(transaction=True)
        queue_session_reads(pipe, session_id)
        header, messages, context, pttl = pipe.execute()
        if _tenant_of(header) != tenant:
            return None
        return session_from_redis(session_id, header, messages, context, int(pttl))


def _tenant_of(header: dict[Any, Any]) -> str | None:
    owner = header.get(b"tenant", header.get("tenant"))
    return optional_text(owner)
