"""Presigned URLs: the TTL a request may ask for, and what a presign answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from gateway.errors import InvalidRequest
from storage.config import PresignConfig


class Operation(StrEnum):
    """What a presigned URL lets its holder do; the values are the seed's names."""

    GET = "GetObject"
    PUT = "PutObject"

    @property
    def method(self) -> str:
        return "GET" if self is Operation.GET else "PUT"


OPERATIONS = {"get": Operation.GET, "put": Operation.PUT}


def parse_operation(value: str) -> Operation:
    operation = OPERATIONS.get(value.lower())
    if operation is None:
        raise InvalidRequest(f"operation must be 'get' or 'put', not {value!r}", param="operation")
    return operation


def checked_ttl(requested: int | None, bounds: PresignConfig) -> int:
    """``requested`` (or the route's default) within the route's bounds; outside them a 400
    naming the bound."""
    if requested is None:
        return bounds.default_ttl
    if requested < bounds.min_ttl:
        raise InvalidRequest(
            f"ttl {requested} is below this route's min_ttl of {bounds.min_ttl} seconds",
            param="ttl",
        )
    if requested > bounds.max_ttl:
        raise InvalidRequest(
            f"ttl {requested} is above this route's max_ttl of {bounds.max_ttl} seconds",
            param="ttl",
        )
    return requested


@dataclass(frozen=True, slots=True)
class PresignedUrl:
    url: str
    operation: Operation
    expires_in: int
    expires_at: datetime

    @classmethod
    def signed_now(cls, url: str, operation: Operation, ttl: int, now: datetime) -> PresignedUrl:
        return cls(url, operation, ttl, now + timedelta(seconds=ttl))


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
