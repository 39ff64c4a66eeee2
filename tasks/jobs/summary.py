"""A job as ``GET /v1/jobs`` lists it: the record's small fields, not its request or result.

A listed job is read with one ``HMGET`` of the fields below, so a page costs what its
summaries weigh, not what the jobs carried (a 900 KB prompt stays in Redis). The request and
the result are read, and shown, only when the caller expands them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gateway.redis_replies import text
from tasks.jobs.record import JOB_FIELDS, JobStatus, iso

# The record fields a summary shows, in the order ``public`` writes them.
SUMMARY_FIELDS = (
    "id",
    "type",
    "status",
    "provider",
    "model",
    "priority",
    "attempts",
    "created_at",
    "started_at",
    "finished_at",
    "error",
    "usage",
    "cost_usd",
    "metadata",
    "idempotency_key",
    "session_id",
    "batch_id",
    "custom_id",
)
_TIMES = frozenset({"created_at", "started_at", "finished_at"})


class Expansion(StrEnum):
    """A large field of the record that a listing shows only when asked to."""

    REQUEST = "request"
    RESULT = "result"


def summary_fields(expand: Collection[Expansion]) -> list[str]:
    """The hash fields to read for summaries with ``expand``."""
    return [*SUMMARY_FIELDS, *(e.value for e in Expansion if e in expand)]


@dataclass(frozen=True, slots=True)
class JobSummary:
    """A job's summary fields, decoded, plus the expanded ones asked for."""

    id: str
    status: JobStatus
    fields: dict[str, Any]
    expanded: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_hmget(
        cls, names: Sequence[str], values: Sequence[bytes | str | None]
    ) -> JobSummary | None:
        """The summary from an ``HMGET`` of ``names``; None when the record is gone."""
        data: dict[str, Any] = {}
        for name, value in zip(names, values, strict=True):
            data[name] = None if value is None else JOB_FIELDS.decode(name, text(value))
        if data.get("id") is None or data.get("type") is None or data.get("status") is None:
            return None
        expanded: dict[str, Any] = {e.value: data.pop(e.value) for e in Expansion if e in data}
        return cls(id=data["id"], status=JobStatus(data["status"]), fields=data, expanded=expanded)

    def public(self) -> dict[str, Any]:
        """The summary as the API shows it (``api.schemas.JobSummary``); absent counters
        and metadata read as ``JobRecord``'s defaults."""
        out: dict[str, Any] = {"id": self.id, "object": "job"}
        for name in SUMMARY_FIELDS[1:]:
            value = self.fields.get(name)
            out[name] = iso(value) if name in _TIMES else value
        out["status"] = self.status.value
        out["priority"] = out["priority"] or 0
        out["attempts"] = out["attempts"] or 0
        out["metadata"] = out["metadata"] or {}
        return out | self.expanded
