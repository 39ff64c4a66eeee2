"""What every store type offers the gateway. The calls block (the vendors' SDKs are
synchronous): the API runs them in threads, never on the event loop.

Backends raise the gateway's own errors (``gateway.errors``): ``ObjectNotFound`` for a
missing object, ``StorageUnavailable`` when the store cannot be reached or answers 5xx,
``StorageFailed`` when it refuses for a reason that is not the caller's. Keys here are the
stored keys (tenant prefix included); ``storage.access`` decided they may be touched."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from storage.presign import Operation

# How much of an object one read, one uploaded part or one streamed chunk holds: what an
# upload or download keeps in memory, whatever the object's size. S3 needs parts of 5 MiB
# or more; GCS needs chunk sizes in multiples of 256 KiB.
PART_BYTES = 8 * 1024 * 1024
DOWNLOAD_CHUNK_BYTES = 4 * 1024 * 1024


class BodyReader(Protocol):
    """An upload's body, read as it arrives (``read(n)`` blocks until data or the end)."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int
    etag: str
    content_type: str | None = None
    last_modified: datetime | None = None


@dataclass(slots=True)
class ObjectDownload:
    """An object being read: its metadata, then its bytes in chunks; ``close`` releases the
    connection if the reader stops early."""

    info: StoredObject
    chunks: Iterator[bytes]
    close: Callable[[], None] = field(default=lambda: None)


@dataclass(frozen=True, slots=True)
class ListPage:
    objects: list[StoredObject]
    next_cursor: str | None


class ObjectStore(Protocol):
    def put(self, bucket: str, key: str, body: BodyReader, content_type: str) -> StoredObject:
        """Store ``body`` as it is read; the object is created only if the whole body
        arrives (a failed read leaves nothing behind)."""
        ...

    def head(self, bucket: str, key: str) -> StoredObject: ...

    def get(self, bucket: str, key: str) -> ObjectDownload: ...

    def list(self, bucket: str, prefix: str, cursor: str | None, limit: int) -> ListPage: ...

    def delete(self, bucket: str, key: str) -> None:
        """Delete an existing object; ``ObjectNotFound`` if there is none."""
        ...

    def presign(self, bucket: str, key: str, operation: Operation, ttl: int) -> str: ...

    def close(self) -> None:
        """Close the SDK's connection pool (at shutdown; the store is not used after)."""
        ...
