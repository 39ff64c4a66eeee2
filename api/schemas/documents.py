"""The ``document`` content part of a chat request's user message (``/v1/chat/completions``
and completion jobs' ``request``), for the OpenAPI document: messages are passed through as
JSON to the one parser that judges them (``providers.document_parts``), so these models
describe the part rather than validate it (docs/storage.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from api.schemas.common import RequestModel


class DocumentUrlSource(RequestModel):
    """A document the worker fetches (no redirects, public addresses or the gateway's own
    storage endpoints only, size and type limited, cached per tenant)."""

    type: Literal["url"]
    url: str = Field(pattern=r"^https?://", max_length=8192)


class DocumentBase64Source(RequestModel):
    type: Literal["base64"]
    media_type: str = Field(examples=["application/pdf", "text/markdown"])
    data: str = Field(min_length=1, description="the document's bytes, base64")


class DocumentStorageSource(RequestModel):
    """An object of the caller's tenant in a storage route (``/-s3/{route}/...``), read with
    the gateway's credentials after the route's access rules."""

    type: Literal["storage"]
    route: str = Field(min_length=1, max_length=64)
    bucket: str = Field(min_length=1, max_length=255)
    key: str = Field(min_length=1, max_length=1024)


class DocumentContentPart(RequestModel):
    """A document for the model: given to the provider natively where its vendor takes
    the type (PDF), else its extracted text between ``<document>`` delimiters."""

    type: Literal["document"]
    source: Annotated[
        DocumentUrlSource | DocumentBase64Source | DocumentStorageSource,
        Field(discriminator="type"),
    ]
    title: str | None = Field(default=None, max_length=500)
    filename: str | None = Field(default=None, max_length=500, description="as title")
