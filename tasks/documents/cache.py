"""The tenant-scoped document cache in Redis: a document read for one request is reused by
the next that names the same thing, so it is not fetched again.

Keys: the tenant and the sha256 of what names the document (``url:<url>``, or
``storage:<route>/<bucket>/<key>@<etag>``, so a changed object is a new entry and is read
again). An entry holds the document's media type, its text, and its bytes where the
provider may take them natively; entries over ``max_entry_bytes`` are not kept, and every
entry expires after ``ttl_seconds``. A cache that cannot be reached is a miss, never an
error: the document is read from its source instead."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import orjson
import structlog
from redis import Redis
from redis.exceptions import RedisError

from gateway import keys

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ReadDocument:
    """A document as read and extracted: what the provider call is built from."""

    media_type: str
    # None until needed: a PDF given to the provider natively is never extracted.
    text: str | None
    body: bytes | None = None  # kept only where it may go to the provider natively


def url_material(url: str) -> str:
    return f"url:{url}"


def storage_material(route: str, bucket: str, key: str, etag: str) -> str:
    return f"storage:{route}/{bucket}/{key}@{etag}"


class DocumentCache:
    def __init__(self, redis: Redis, *, ttl_seconds: int, max_entry_bytes: int) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds
        self.max_entry_bytes = max_entry_bytes

    def _key(self, tenant: str, material: str) -> str:
        return keys.document_cache(tenant, hashlib.sha256(material.encode()).hexdigest())

    def get(self, tenant: str, material: str) -> ReadDocument | None:
        if self.ttl_seconds <= 0:
            return None
        try:
            raw = self.redis.get(self._key(tenant, material))
        except RedisError as exc:
            log.warning("document_cache_unavailable", error=str(exc))
            return None
        if raw is None:
            return None
        entry = orjson.loads(raw)
        body = entry.get("body")
        return ReadDocument(
            entry["media_type"], entry["text"], base64.b64decode(body) if body else None
        )

    def put(self, tenant: str, material: str, document: ReadDocument) -> bool:
        """Keep ``document``; False when it is over the entry bound (or the cache is off)."""
        if self.ttl_seconds <= 0:
            return False
        body = base64.b64encode(document.body).decode() if document.body is not None else None
        entry = orjson.dumps(
            {"media_type": document.media_type, "text": document.text, "body": body}
        )
        if len(entry) > self.max_entry_bytes:
            return False
        try:
            self.redis.set(self._key(tenant, material), entry, ex=self.ttl_seconds)
        except RedisError as exc:
            log.warning("document_cache_unavailable", error=str(exc))
            return False
        return True
