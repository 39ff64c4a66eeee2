"""The gateway's records as the client reads them. Fields the API contract names are typed;
anything the server adds later is kept (``extra="allow"``), so an older client still reads
a newer gateway's answers. ``tests/client/test_models_match_api.py`` holds these to the
API's OpenAPI document: same field names, same status values."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
# A batch result line can also say "expired": the document's job record outlived its TTL.
ResultStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"]
BatchStatus = Literal["in_progress", "cancelling", "completed", "cancelled"]

JOB_TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
BATCH_ENDED: frozenset[str] = frozenset({"completed", "cancelled"})


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class DeliveryAttempt(_Record):
    at: datetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: float | None = None


class WebhookDelivery(_Record):
    """How the webhook of a job or batch is being delivered."""

    status: Literal["pending", "delivered", "dead"]
    event: str | None = None
    attempts: list[DeliveryAttempt] = Field(default_factory=list)
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None


class Webhook(_Record):
    url: str
    delivery: WebhookDelivery | None = None


class Pipeline(_Record):
    """Where a running enhancement job is."""

    step: str | None = None
    prompt: str | None = None


class JobSummary(_Record):
    """One job of ``GET /v1/jobs``: the record without its bodies. ``request`` and
    ``result`` are None unless the listing expanded them (``GatewayClient.jobs(expand=...)``);
    ``GatewayClient.get`` reads the whole record."""

    id: str
    object: str = "job"
    type: str
    status: JobStatus
    provider: str | None = None
    model: str | None = None
    priority: int | None = None
    attempts: int = 0
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None
    session_id: str | None = None
    batch_id: str | None = None
    custom_id: str | None = None
    request: dict[str, Any] | None = None
    result: dict[str, Any] | None = None

    @property
    def terminal(self) -> bool:
        return self.status in JOB_TERMINAL


class Job(JobSummary):
    """``GET /v1/jobs/{id}``: the whole record."""

    orphaned_usage: dict[str, Any] | None = None
    tool_loop: dict[str, Any] | None = None
    webhook: Webhook | None = None
    pipeline: Pipeline | None = None
    # The response cache's part in the job (docs/response-cache.md): ``{"hit": true,
    # "age_seconds": N, ...}`` when it was answered from the cache (never queued, cost 0),
    # ``{"hit": false, "ttl_seconds": N, ...}`` when its answer is stored for later hits.
    cache: dict[str, Any] | None = None


class RequestCounts(_Record):
    total: int = 0
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    completed: int = 0
    validation_failed: int = 0


class Batch(_Record):
    """``GET /v1/batches/{id}``."""

    id: str
    object: str = "batch"
    type: str = "enhancement"
    status: BatchStatus
    model: str | None = None
    provider: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    request_counts: RequestCounts = Field(default_factory=RequestCounts)
    options: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    priority: int | None = None
    idempotency_key: str | None = None
    results_url: str | None = None
    webhook: Webhook | None = None

    @property
    def ended(self) -> bool:
        return self.status in BATCH_ENDED


class Citation(_Record):
    chunk_id: str
    source: str | None = None


class ValidationCheck(_Record):
    name: str
    passed: bool
    detail: str = ""
    items: list[str] = Field(default_factory=list)


class Review(_Record):
    approved: bool | None = None
    issues: list[str] = Field(default_factory=list)
    error: str | None = None


class Validation(_Record):
    passed: bool
    checks: list[ValidationCheck] = Field(default_factory=list)
    review: Review | None = None

    @property
    def failed_checks(self) -> list[str]:
        return [check.name for check in self.checks if not check.passed]


class EnhancementResult(_Record):
    """A succeeded enhancement job's ``result``."""

    document: str
    citations: list[Citation] = Field(default_factory=list)
    validation: Validation | None = None
    steps: dict[str, Any] = Field(default_factory=dict)
    prompt: str | None = None
    provider: str | None = None
    model: str | None = None
    session_id: str | None = None


class BatchResult(_Record):
    """One line of ``GET /v1/batches/{id}/results``."""

    custom_id: str | None = None
    job_id: str | None = None
    status: ResultStatus
    result: EnhancementResult | None = None
    error: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None

    @property
    def succeeded_and_valid(self) -> bool:
        """Succeeded, and its validation (when it reports one) passed."""
        if self.status != "succeeded" or self.result is None:
            return False
        return self.result.validation is None or self.result.validation.passed


class Document(BaseModel):
    """One document of a batch: its text or a URL the gateway fetches, not both."""

    model_config = ConfigDict(extra="forbid")

    custom_id: str | None = None
    text: str | None = None
    url: str | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _text_or_url(self) -> Document:
        if (self.text is None) == (self.url is None):
            raise ValueError("a document needs exactly one of text or url")
        return self

    @classmethod
    def from_path(cls, path: str | Path, custom_id: str | None = None) -> Document:
        """The file's text (UTF-8); ``custom_id`` defaults to the file's name."""
        file = Path(path)
        return cls(custom_id=custom_id or file.name, text=file.read_text(encoding="utf-8"))

    def body(self) -> dict[str, Any]:
        """The document as ``POST /v1/batches`` takes it."""
        return self.model_dump(exclude_none=True)
