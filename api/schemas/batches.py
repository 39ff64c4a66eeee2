"""``/v1/batches``: the submission body, the batch as clients see it, its result lines."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AnyHttpUrl, Field

from api.schemas.common import MetadataValue, RequestModel, ResponseModel, Timestamp
from api.schemas.webhooks import WebhookSpec, WebhookStatus


class BatchDocument(RequestModel):
    """One document of a batch: inline Markdown or a URL the worker fetches."""

    custom_id: str | None = Field(
        default=None, min_length=1, max_length=256, description="default: doc-<position>"
    )
    text: str | None = Field(default=None, min_length=1)
    url: AnyHttpUrl | None = None
    name: str | None = Field(default=None, max_length=256)

    def source(self) -> dict[str, Any]:
        out = self.model_dump(exclude_none=True)
        if self.url is not None:
            out["url"] = str(self.url)
        return out


class BatchCreate(RequestModel):
    """``POST /v1/batches``: documents to enhance with one model, options and webhook."""

    model: str = Field(min_length=1, max_length=256)
    documents: list[BatchDocument] = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    webhook: WebhookSpec | None = None
    metadata: dict[str, MetadataValue] = Field(default_factory=dict, max_length=64)
    priority: int = Field(default=5, ge=0, le=9)
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$"
    )
    provider: str | None = Field(default=None, min_length=1, max_length=64)


class RequestCounts(ResponseModel):
    """The batch's documents by state; ``completed`` counts every ended one."""

    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    completed: int
    validation_failed: int


class Batch(ResponseModel):
    """A batch (``BatchStore.public``), shaped like OpenAI's and Anthropic's batch objects."""

    id: str
    object: Literal["batch"]
    type: str
    status: Literal["in_progress", "cancelling", "completed", "cancelled"]
    model: str
    provider: str | None
    created_at: Timestamp
    completed_at: Timestamp | None
    cancelled_at: Timestamp | None
    cancel_requested_at: Timestamp | None
    request_counts: RequestCounts
    options: dict[str, Any]
    metadata: dict[str, MetadataValue]
    priority: int
    idempotency_key: str | None
    results_url: str
    webhook: WebhookStatus | None


class BatchList(ResponseModel):
    """``GET /v1/batches``: newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    object: Literal["list"]
    data: list[Batch]
    next_cursor: str | None
    has_more: bool


class BatchResultLine(ResponseModel):
    """One line of ``GET /v1/batches/{id}/results`` (JSON Lines, in submission order).
    ``expired``: the document's job record outlived its TTL, and its result with it."""

    custom_id: str | None
    job_id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"]
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    usage: dict[str, Any] | None
    cost_usd: float | None
