"""``/v1/sessions``: create and update bodies, and the session as clients see it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.schemas.common import MetadataValue, RequestModel, ResponseModel, Timestamp


class SessionCreate(RequestModel):
    """``POST /v1/sessions``. ``ttl_seconds``' upper bound is a setting, checked by the route;
    ``messages`` are checked by the chat-request parser, the one judge of a message."""

    system: str | None = Field(default=None, max_length=100_000)
    context: dict[str, Any] = Field(default_factory=dict, max_length=256)
    ttl_seconds: int | None = Field(default=None, ge=1)
    context_budget_tokens: int | None = Field(default=None, ge=1)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, MetadataValue] = Field(default_factory=dict, max_length=64)


class SessionUpdate(RequestModel):
    """``PATCH /v1/sessions/{id}``: merged into the context; a null value deletes the key."""

    context: dict[str, Any] = Field(max_length=256)


class Session(ResponseModel):
    """A session (``Session.public``): its history in OpenAI message form."""

    id: str
    object: Literal["session"]
    created_at: Timestamp
    expires_at: Timestamp
    ttl_seconds: int
    system: str | None
    context: dict[str, Any]
    context_budget_tokens: int
    metadata: dict[str, MetadataValue]
    message_count: int
    messages: list[dict[str, Any]]
