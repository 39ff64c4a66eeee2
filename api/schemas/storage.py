"""The storage routes' answers (``/-s3/{route}/...``), in the shapes of the seed: an upload
answers ``{"status": "success", "bucket", "key", "size", "etag"}``, a presign ``{"url",
"expires_in", "expires_at", "operation", "bucket", "key"}``. Keys are always the caller's
own (the tenant prefix inside the store is never shown)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from api.schemas.common import ResponseModel, Timestamp


class StoredObjectReply(ResponseModel):
    """``PUT /-s3/{route}/put/{bucket}/{key}``: the object as stored."""

    status: Literal["success"] = "success"
    bucket: str
    key: str
    size: int = Field(description="bytes stored")
    etag: str


class DeletedObject(ResponseModel):
    status: Literal["success"] = "success"
    bucket: str
    key: str


class ListedObject(ResponseModel):
    key: str
    size: int
    etag: str
    last_modified: Timestamp | None


class ObjectList(ResponseModel):
    """One page of a listing; pass ``next_cursor`` as ``cursor`` for the next (null: done)."""

    status: Literal["success"] = "success"
    bucket: str
    prefix: str
    objects: list[ListedObject]
    next_cursor: str | None


class PresignedUrlReply(ResponseModel):
    """A URL that lets its holder GET (or PUT) one object until ``expires_at``, with no
    API key: hand it to whoever should read the document."""

    url: str
    expires_in: int = Field(description="seconds")
    expires_at: Timestamp
    operation: Literal["GetObject", "PutObject"]
    bucket: str
    key: str
