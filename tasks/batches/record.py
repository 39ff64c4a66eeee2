"""The batch record: many enhancement jobs submitted at once, stored as a Redis hash.

A batch's jobs are ordinary job records (``batch_id`` set) listed in document order in
``keys.batch_jobs``. Its terminal counters (``n_succeeded``, ``n_failed``, ...) are kept
by the scripts that end jobs (``tasks/jobs/scripts/on_terminal.lua``), so they are exact,
and the job that completes the count is the one that ends the batch.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tasks.jobs.hash_fields import HashFields
from tasks.jobs.record import DELIVERY_FLOATS, DELIVERY_JSON, iso, webhook_public

IN_PROGRESS = "in_progress"
ENDED = frozenset({"completed", "cancelled"})

BATCH_FIELDS = HashFields(
    json=DELIVERY_JSON | {"options", "metadata"},
    floats=DELIVERY_FLOATS | {"created_at", "ended_at", "cancel_requested_at"},
    ints=frozenset(
        {
            "total",
            "priority",
            "n_succeeded",
            "n_failed",
            "n_cancelled",
            "n_done",
            "n_validation_failed",
            "wh_attempt_count",
        }
    ),
)


def new_batch_id() -> str:
    """Time-ordered and unguessable, like job ids."""
    return f"batch_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def oldest_live_batch_bound(ttl_seconds: int) -> str:
    """Exclusive lex bound: ids below it belong to batches whose records have expired."""
    return f"(batch_{int((time.time() - ttl_seconds) * 1000):012x}"


@dataclass(slots=True, kw_only=True)
class BatchRecord:
    """One batch as stored; the ``n_*`` counters count its ended jobs by status."""

    id: str
    tenant: str
    model: str
    total: int
    created_at: float
    status: str = IN_PROGRESS
    type: str = "enhancement"
    provider: str | None = None
    priority: int = 5
    options: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    idempotency_key: str | None = None
    fingerprint: str | None = None
    ended_at: float | None = None
    cancel_requested_at: float | None = None
    n_succeeded: int = 0
    n_failed: int = 0
    n_cancelled: int = 0
    n_done: int = 0
    n_validation_failed: int = 0
    wh_status: str | None = None
    wh_event: str | None = None
    wh_attempt_count: int | None = None
    wh_attempts: list[dict[str, Any]] | None = None
    wh_next_at: float | None = None
    wh_delivered_at: float | None = None

    def to_redis(self) -> dict[str, str]:
        return BATCH_FIELDS.to_redis(self)

    @classmethod
    def from_redis(cls, raw: Mapping[Any, Any]) -> BatchRecord:
        return cls(**BATCH_FIELDS.from_redis(cls.__slots__, raw))

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def public(self, queued: int | None = None, running: int | None = None) -> dict[str, Any]:
        """The batch as clients see it, shaped like OpenAI's and Anthropic's batch objects.
        ``queued``/``running`` split the unfinished jobs when the caller counted them."""
        unfinished = self.total - self.n_done
        if queued is None or running is None:
            queued, running = unfinished, 0
        return {
            "id": self.id,
            "object": "batch",
            "type": self.type,
            "status": self.status,
            "model": self.model,
            "provider": self.provider,
            "created_at": iso(self.created_at),
            "completed_at": iso(self.ended_at) if self.status == "completed" else None,
            "cancelled_at": iso(self.ended_at) if self.status == "cancelled" else None,
            "cancel_requested_at": iso(self.cancel_requested_at),
            "request_counts": {
                "total": self.total,
                "queued": queued,
                "running": running,
                "succeeded": self.n_succeeded,
                "failed": self.n_failed,
                "cancelled": self.n_cancelled,
                "completed": self.n_done,
                "validation_failed": self.n_validation_failed,
            },
            "options": self.options,
            "metadata": self.metadata,
            "priority": self.priority,
            "idempotency_key": self.idempotency_key,
            "results_url": f"/v1/batches/{self.id}/results",
            "webhook": webhook_public(self.webhook, self),
        }
