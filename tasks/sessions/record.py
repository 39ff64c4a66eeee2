"""Conversation sessions: the ``Session`` model and its Redis layout.

A session is three keys sharing one idle expiry (``gateway.keys``): a header hash
(tenant, created_at, ttl_seconds, context_budget_tokens, system?, metadata), a list of
JSON-encoded OpenAI chat messages (oldest first) and a context hash (key → JSON value).
The header decides whether the session is alive; every write renews all three expiries.
The job finish script appends to the list and trims it; ``tasks.sessions.store`` does the
rest.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gateway import keys
from gateway.redis_replies import text
from tasks.jobs.record import iso


def new_session_id() -> str:
    """Unguessable: ``sess_`` + 32 random hex digits."""
    return f"sess_{secrets.token_hex(16)}"


_SESSION_ID = re.compile(r"sess_[0-9a-f]{32}")


def is_session_id(value: object) -> bool:
    """Whether ``value`` could name a session. Anything else names none, and must never
    reach a key name (``<id>:messages`` would address another session's list)."""
    return isinstance(value, str) and _SESSION_ID.fullmatch(value) is not None


def session_keys(session_id: str) -> list[str]:
    """Header, messages, context: the order every session script takes its keys in."""
    return [
        keys.session(session_id),
        keys.session_messages(session_id),
        keys.session_context(session_id),
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """One session as stored. ``expires_at`` moves forward with every write."""

    id: str
    tenant: str
    created_at: float
    ttl_seconds: int
    expires_at: float
    system: str | None
    context: dict[str, Any]
    context_budget_tokens: int
    metadata: dict[str, Any]
    messages: list[dict[str, Any]]

    def header(self) -> dict[str, str]:
        """The header hash's fields; no ``system`` field when there is none."""
        fields = {
            "tenant": self.tenant,
            "created_at": repr(self.created_at),
            "ttl_seconds": str(self.ttl_seconds),
            "context_budget_tokens": str(self.context_budget_tokens),
            "metadata": orjson.dumps(self.metadata).decode(),
        }
        if self.system is not None:
            fields["system"] = self.system
        return fields

    def public(self) -> dict[str, Any]:
        """The session as the API shows it (no tenant)."""
        return {
            "id": self.id,
            "object": "session",
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "ttl_seconds": self.ttl_seconds,
            "system": self.system,
            "context": self.context,
            "context_budget_tokens": self.context_budget_tokens,
            "metadata": self.metadata,
            "message_count": len(self.messages),
            "messages": self.messages,
        }


def queue_session_reads(pipe: Any, session_id: str) -> None:
    """Queue, on a sync or asyncio pipeline, the four reads ``session_from_redis`` takes:
    header, messages, context, and the header's PTTL."""
    header_key, messages_key, context_key = session_keys(session_id)
    pipe.hgetall(header_key)
    pipe.lrange(messages_key, 0, -1)
    pipe.hgetall(context_key)
    pipe.pttl(header_key)


def session_from_redis(
    session_id: str,
    header: Mapping[Any, Any],
    messages: Sequence[Any],
    context: Mapping[Any, Any],
    pttl_ms: int,
) -> Session:
    """A session from its three keys as redis-py returns them (bytes or str) and the
    header's remaining time to live."""
    fields = {text(k): text(v) for k, v in header.items()}
    ttl_seconds = int(fields["ttl_seconds"])
    # A negative PTTL (no expiry, or gone since) should not happen; report the full TTL.
    remaining = pttl_ms / 1000 if pttl_ms >= 0 else float(ttl_seconds)
    return Session(
        id=session_id,
        tenant=fields["tenant"],
        created_at=float(fields["created_at"]),
        ttl_seconds=ttl_seconds,
        expires_at=time.time() + remaining,
        system=fields.get("system"),
        context={text(k): orjson.loads(v) for k, v in context.items()},
        context_budget_tokens=int(fields["context_budget_tokens"]),
        metadata=orjson.loads(fields.get("metadata", "{}")),
        messages=[orjson.loads(m) for m in messages],
    )
