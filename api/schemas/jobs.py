"""``/v1/jobs``: the submission body, the job record as clients see it, a page of jobs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.schemas.common import MetadataValue, RequestModel, ResponseModel, Timestamp
from api.schemas.webhooks import WebhookSpec, WebhookStatus

JobStatusName = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JobTypeName = Literal["completion", "tool", "enhancement", "embedding", "token_count"]


class JobCreate(RequestModel):
    """``POST /v1/jobs``."""

    type: JobTypeName
    request: dict[str, Any]
    webhook: WebhookSpec | None = None
    session_id: str | None = Field(default=None, min_length=1, max_length=128)
    priority: int = Field(default=5, ge=0, le=9, description="0 lowest .. 9 highest")
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$"
    )
    metadata: dict[str, MetadataValue] = Field(default_factory=dict, max_length=64)


class ToolCallRecord(ResponseModel):
    """One tool call a completion's loop ran."""

    id: str
    name: str
    ok: bool
    error_type: str | None
    seconds: float


class ToolLoopProgress(ResponseModel):
    """A completion's tool loop: rounds and calls so far, not its messages."""

    iterations: int
    calls: list[ToolCallRecord]


class PipelineProgress(ResponseModel):
    """A running enhancement: its step and prompt, not its conversation."""

    step: str | None
    prompt: str | None


class JobCache(ResponseModel):
    """The response cache's part in the job (docs/response-cache.md). ``hit`` true: a
    ``POST /v1/jobs`` answered from the cache, never queued, no provider called, cost 0;
    ``age_seconds`` is the entry's age when it answered. ``hit`` false: the job ran on a
    miss (or a refresh) and its answer, if it succeeds, is cached for ``ttl_seconds``."""

    hit: bool
    ttl_seconds: int | None = Field(description="the stored answer's TTL; null on a hit")
    age_seconds: int | None = Field(description="the entry's age on a hit; null otherwise")


class OrphanedUsage(ResponseModel):
    """Paid for and not in the result: replies that landed after the job was cancelled or
    had lost its worker's lease, turns re-run because their worker died before saving
    them. ``cost_usd`` is null when the model has no price."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float | None


class JobFields(ResponseModel):
    """What every view of a job has: ``GET /v1/jobs/{id}`` (``Job``) and each entry of
    ``GET /v1/jobs`` (``JobSummary``). ``error`` has the error shape's fields."""

    id: str
    object: Literal["job"]
    type: JobTypeName
    status: JobStatusName
    provider: str | None
    model: str | None
    priority: int
    attempts: int
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    error: dict[str, Any] | None
    usage: dict[str, Any] | None
    cost_usd: float | None
    metadata: dict[str, MetadataValue]
    idempotency_key: str | None
    session_id: str | None
    batch_id: str | None
    custom_id: str | None


class Job(JobFields):
    """A job record (``JobRecord.public``), whole."""

    request: dict[str, Any]
    result: dict[str, Any] | None
    orphaned_usage: OrphanedUsage | None
    tool_loop: ToolLoopProgress | None
    pipeline: PipelineProgress | None
    webhook: WebhookStatus | None
    cache: JobCache | None


class JobSummary(JobFields):
    """A job as ``GET /v1/jobs`` lists it: the record without its request, result, tool
    loop, pipeline or webhook (``GET /v1/jobs/{id}`` has them). ``request`` and ``result``
    are the only fields ever left out: each is there exactly when ``expand`` names it."""

    # Not required: present only when expanded (the default is never sent, so no
    # ``default`` appears in the document).
    request: dict[str, Any] = Field(
        default_factory=dict, description="With ``expand=request`` only."
    )
    result: dict[str, Any] | None = Field(
        default_factory=lambda: None,
        description="With ``expand=result`` only; null until the job has succeeded.",
    )


class JobList(ResponseModel):
    """``GET /v1/jobs``: newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    object: Literal["list"]
    data: list[JobSummary]
    next_cursor: str | None
    has_more: bool
