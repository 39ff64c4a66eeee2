"""Request bodies at the edge. Responses are the records' ``public()`` dicts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

MetadataValue = str | int | float | bool | None


class WebhookSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl


class JobCreate(BaseModel):
    """``POST /v1/jobs``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["completion", "tool", "enhancement"]
    request: dict[str, Any]
    webhook: WebhookSpec | None = None
    session_id: str | None = Field(default=None, min_length=1, max_length=128)
    priority: int = Field(default=5, ge=0, le=9, description="0 lowest .. 9 highest")
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$"
    )
    metadata: dict[str, MetadataValue] = Field(default_factory=dict, max_length=64)


class BatchDocument(BaseModel):
    """One document of a batch: inline Markdown or a URL the worker fetches."""

    model_config = ConfigDict(extra="forbid")

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


class BatchCreate(BaseModel):
    """``POST /v1/batches``: documents to enhance with one model, options and webhook."""

    model_config = ConfigDict(extra="forbid")

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


class SessionCreate(BaseModel):
    """``POST /v1/sessions``. ``ttl_seconds``' upper bound is a setting, checked by the route;
    ``messages`` are checked by the chat-request parser, the one judge of a message."""

    model_config = ConfigDict(extra="forbid")

    system: str | None = Field(default=None, max_length=100_000)
    context: dict[str, Any] = Field(default_factory=dict, max_length=256)
    ttl_seconds: int | None = Field(default=None, ge=1)
    context_budget_tokens: int | None = Field(default=None, ge=1)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, MetadataValue] = Field(default_factory=dict, max_length=64)


class SessionUpdate(BaseModel):
    """``PATCH /v1/sessions/{id}``: merged into the context; a null value deletes the key."""

    model_config = ConfigDict(extra="forbid")

    context: dict[str, Any] = Field(max_length=256)


class ToolExecute(BaseModel):
    """``POST /v1/tools/execute``: the arguments are checked against the tool's schema."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    arguments: dict[str, Any] = Field(default_factory=dict)


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions``: the OpenAI request; fields we do not model pass through
    to the normalizer, which is the one place that decides what a message may contain."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int = Field(default=1, ge=1, le=1, description="only n=1 is supported")
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    provider: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="pin the request to an instance name or a provider type",
    )

    def job_request(self) -> dict[str, Any]:
        """The request stored on the job: everything except transport options."""
        return self.model_dump(exclude={"stream", "stream_options", "n"}, exclude_none=True)
