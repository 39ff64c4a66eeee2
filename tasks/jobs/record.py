"""The job record: the source of truth for a job, stored as a Redis hash.

Celery messages carry only the job id; everything else lives here. Status changes go
through Lua scripts (``tasks.jobs.job_scripts``) so concurrent actors (a worker finishing, a
client cancelling, a duplicate delivery) cannot both win.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import orjson

from gateway.errors import InvalidRequest
from tasks.jobs.hash_fields import HashFields


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class JobType(StrEnum):
    COMPLETION = "completion"
    TOOL = "tool"
    ENHANCEMENT = "enhancement"
    EMBEDDING = "embedding"
    TOKEN_COUNT = "token_count"  # noqa: S105 (a job type, not a password)


# Fields both job and batch records have: a webhook's delivery (``tasks.webhooks.deliveries``).
DELIVERY_JSON = frozenset({"webhook", "wh_attempts"})
DELIVERY_FLOATS = frozenset({"wh_next_at", "wh_delivered_at"})

JOB_FIELDS = HashFields(
    json=DELIVERY_JSON
    | {"request", "result", "error", "usage", "metadata", "route", "loop", "pipeline"},
    floats=DELIVERY_FLOATS
    | {"created_at", "started_at", "finished_at", "cost_usd", "paid_cost_usd"},
    ints=frozenset(
        {
            "attempts",
            "failures",
            "priority",
            "recoveries",
            "wh_attempt_count",
            "paid_prompt_tokens",
            "paid_completion_tokens",
            "tpm_reserved",
            "cache_ttl",
            "cache_age",
        }
    ),
)


def new_job_id() -> str:
    """Time-ordered, unguessable: 12 hex digits of ms since epoch + 16 random hex digits."""
    return f"job_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def oldest_live_id_bound(ttl_seconds: int) -> str:
    """Exclusive lex bound: ids below it belong to jobs whose records have expired."""
    return f"(job_{int((time.time() - ttl_seconds) * 1000):012x}"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True, kw_only=True)
class JobRecord:
    """One job as stored. ``provider`` is the instance name, ``queue`` its Celery queue."""

    id: str
    tenant: str
    type: JobType
    status: JobStatus
    request: dict[str, Any]
    created_at: float
    model: str | None = None
    provider: str | None = None
    queue: str | None = None
    # Attempts started: provider calls (a tool job: its tool run), counted before each call
    # is made, so a call whose worker died mid-way is counted too.
    attempts: int = 0
    # Failed attempts, and waits out an open circuit: what the retry budget counts.
    failures: int = 0
    priority: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    # What every provider reply reported, whoever held the job when it landed: beyond
    # ``usage``/``cost_usd`` it was paid for and not used (``orphaned_usage``).
    paid_prompt_tokens: int = 0
    paid_completion_tokens: int = 0
    paid_cost_usd: float | None = None
    # Tokens the tenant's tpm bucket lent this job at submission (an estimate), traded for
    # the real count by its first paid reply (``tasks/jobs/scripts/paid_reply.lua``).
    tpm_reserved: int | None = None
    # The id of the last paid reply counted: a re-sent script counts it once.
    paid_reply_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    webhook: dict[str, Any] | None = None
    session_id: str | None = None
    request_id: str | None = None
    # sha256 of the submitted type + request: an idempotency key reused for a different
    # request is a conflict, not a silent return of the first job.
    fingerprint: str | None = None
    # Where a completion runs now and which fallbacks it has tried (``tasks.loops.fallbacks``).
    route: dict[str, Any] | None = None
    # Times a worker running this job was lost (its lease lapsed) and the job re-queued.
    recoveries: int = 0
    # A completion's tool-loop checkpoint (``tasks.loops.state.LoopState``).
    loop: dict[str, Any] | None = None
    # An enhancement's checkpoint (``tasks.kinds.enhancement.state.PipelineState``).
    pipeline: dict[str, Any] | None = None
    # The batch this job is one document of, and the document's id within it.
    batch_id: str | None = None
    custom_id: str | None = None
    # "1" when the job's events go to its stream (``tasks.jobs.stream``) as they happen.
    stream: str | None = None
    # "<instance> <place in line> <tokens>" of a plain completion's provider call on the
    # instance it was routed to, written at submission so that the worker's claim admits
    # the call in the same step (``tasks/jobs/scripts/claim_admit.lua``); gone once the
    # job ends.
    first_call: str | None = None
    # The response-cache entry the worker writes a successful answer to, and its TTL
    # (``tasks.cache``); unset: the answer is not cached.
    cache_key: str | None = None
    cache_ttl: int | None = None
    # A completion answered from the response cache (never queued, no provider called):
    # the age in whole seconds of the entry it was answered from.
    cache_age: int | None = None
    # "1" when an enhancement succeeded but its validation failed (batch counters).
    validation_failed: str | None = None
    # The webhook delivery of the job's terminal event (``tasks.webhooks.deliveries``).
    wh_status: str | None = None
    wh_event: str | None = None
    wh_attempt_count: int | None = None
    wh_attempts: list[dict[str, Any]] | None = None
    wh_next_at: float | None = None
    wh_delivered_at: float | None = None

    def to_redis(self) -> dict[str, str]:
        """Hash fields; ``None`` values, and counters and metadata at their defaults, are
        left out: readers fill them in (``from_redis``, ``JobSummary.public``), ``HINCRBY``
        creates a counter when it first moves, and a hashtable-encoded hash costs ~60 bytes
        a field beside its value (``docs/benchmarks.md``, Redis bytes per job)."""
        out = JOB_FIELDS.to_redis(self)
        for name, default in _STORED_DEFAULTS.items():
            if getattr(self, name) == default:
                del out[name]
        return out

    @classmethod
    def from_redis(cls, raw: Mapping[Any, Any]) -> JobRecord:
        data = JOB_FIELDS.from_redis(_JOB_SLOTS, raw)
        data["type"] = JobType(data["type"])
        data["status"] = JobStatus(data["status"])
        return cls(**data)

    def public(self) -> dict[str, Any]:
        """The record as the API shows it (no tenant, no internal queue name)."""
        return {
            "id": self.id,
            "object": "job",
            "type": self.type.value,
            "status": self.status.value,
            "provider": self.provider,
            "model": self.model,
            "priority": self.priority,
            "attempts": self.attempts,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "result": self.result,
            "error": self.error,
            "usage": self.usage,
            "cost_usd": self.cost_usd,
            "orphaned_usage": self.orphaned_usage(),
            "metadata": self.metadata,
            "idempotency_key": self.idempotency_key,
            "session_id": self.session_id,
            "request": self.request,
            "tool_loop": _loop_progress(self.loop),
            "pipeline": _pipeline_progress(self.pipeline),
            "batch_id": self.batch_id,
            "custom_id": self.custom_id,
            "webhook": webhook_public(self.webhook, self),
            "cache": _cache_public(self),
        }

    def orphaned_usage(self) -> dict[str, Any] | None:
        """What replies reported beyond ``usage`` and ``cost_usd``: paid for, not in the
        result (a reply that landed after a cancel or after the lease was lost, a turn
        re-run because its worker died before saving it); None when nothing was."""
        used = self.usage or {}
        prompt = max(self.paid_prompt_tokens - int(used.get("prompt_tokens") or 0), 0)
        completion = max(self.paid_completion_tokens - int(used.get("completion_tokens") or 0), 0)
        cost = None
        if self.paid_cost_usd is not None:
            # Both sides are sums of the same per-reply costs, rounded to 8 places.
            cost = round(max(self.paid_cost_usd - (self.cost_usd or 0.0), 0.0), 8)
        if not prompt and not completion and not cost:
            return None
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "cost_usd": cost,
        }


_JOB_SLOTS = frozenset(JobRecord.__slots__)


def _stored_defaults() -> dict[str, Any]:
    """The fields whose default is a value (0, {}), not None: not stored while at it."""
    out: dict[str, Any] = {}
    for f in fields(JobRecord):
        default = f.default_factory() if callable(f.default_factory) else f.default
        if default is not None and default is not MISSING:
            out[f.name] = default
    return out


_STORED_DEFAULTS = _stored_defaults()


class DeliveryFields(Protocol):
    """What ``webhook_public`` reads: a job or a batch record."""

    wh_status: str | None
    wh_event: str | None
    wh_attempts: list[dict[str, Any]] | None
    wh_next_at: float | None
    wh_delivered_at: float | None


def webhook_public(webhook: dict[str, Any] | None, record: DeliveryFields) -> dict[str, Any] | None:
    """A record's webhook as clients see it: the URL and how its delivery is going."""
    if not webhook:
        return None
    delivery = None
    if record.wh_status:
        delivery = {
            "status": record.wh_status,
            "event": record.wh_event,
            "attempts": record.wh_attempts or [],
            "next_attempt_at": iso(record.wh_next_at) if record.wh_status == "pending" else None,
            "delivered_at": iso(record.wh_delivered_at),
        }
    return {"url": webhook.get("url"), "delivery": delivery}


def _cache_public(record: JobRecord) -> dict[str, Any] | None:
    """The response cache's part in the job: answered from it (a hit), or run with its
    successful answer stored for ``ttl_seconds`` (a miss, or a refresh); None: no part."""
    if record.cache_age is not None:
        return {"hit": True, "ttl_seconds": None, "age_seconds": record.cache_age}
    if record.cache_key:
        return {"hit": False, "ttl_seconds": record.cache_ttl, "age_seconds": None}
    return None


def _pipeline_progress(pipeline: dict[str, Any] | None) -> dict[str, Any] | None:
    """A running enhancement as clients see it: its step, not its conversation."""
    if not pipeline:
        return None
    return {"step": pipeline.get("step"), "prompt": pipeline.get("prompt")}


def _loop_progress(loop: dict[str, Any] | None) -> dict[str, Any] | None:
    """A running tool loop as clients see it: rounds and calls, not the messages."""
    if not loop:
        return None
    return {"iterations": loop.get("iterations", 0), "calls": loop.get("calls", [])}


def storable_json(value: object, param: str) -> bytes:
    """Canonical JSON, refusing as the caller's error what Python's JSON parser accepts but
    the store's encoder cannot keep: integers beyond 64 bits, lone surrogates, nesting
    past 255 levels."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise InvalidRequest(f"{param} cannot be stored: {exc}", param=param) from None


def encode_field(name: str, value: Any) -> str:
    """A job record field as its hash stores it."""
    return JOB_FIELDS.encode(name, value)
