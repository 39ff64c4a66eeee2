"""What every schema module shares: the base of response models, timestamps, metadata."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MetadataValue = str | int | float | bool | None

# Records render their times as ISO 8601 strings (``2026-01-02T03:04:05.678Z``): typed as
# strings so the document states the format and a response keeps its exact bytes.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class ResponseModel(BaseModel):
    """A response body as the API writes it. Every field is required (a null is sent as
    null, never left out) and nothing else appears: the document states the exact shape.

    Hot routes document their body with these models but send the record's pre-built dict
    (``tests/api/test_openapi_conformance.py`` checks the two agree)."""

    model_config = ConfigDict(extra="forbid")


class RequestModel(BaseModel):
    """A request body (or part of one) as clients send it. Strict: JSON types are taken as
    they are (``true`` is not the integer 1, ``"yes"`` not a boolean, ``"5"`` not a number),
    and fields not listed are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)
