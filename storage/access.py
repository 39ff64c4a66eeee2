"""Who may touch which object: key normalization, the route's bucket and prefix rules, and
the tenant's own prefix.

A key is checked, never repaired: anything that could spell a path differently from how it
reads (``..`` or ``.`` segments, ``//``, a leading ``/``, backslashes, percent escapes that
survived URL decoding, control characters) is a 400, so the key that passes the check is
byte for byte the key the store sees. The same rules run on the key's NFKC form, so a
full-width solidus or dot cannot stand in for the real one.

Denied prefixes are compared on NFKC-normalized, case-folded text: object stores treat
``Secret/`` and ``secret/`` as different keys, but a rule written as ``secret/`` is meant to
cover both, and a false refusal is cheaper than a leak.

Tenants: every object a tenant names lives under ``tenants/<tenant>/`` in the bucket. The
gateway adds the prefix and strips it from what it returns; a tenant can neither name nor
list another tenant's objects (they are not found), and a URL it presigns points into its
own prefix by construction.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from gateway.errors import AccessDenied, InvalidObjectKey
from storage.config import AccessConfig

TENANTS_ROOT = "tenants/"
# S3's and GCS's limit on a key, in UTF-8 bytes (Azure allows 1024 characters).
MAX_KEY_BYTES = 1024
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def fold(text: str) -> str:
    """The form prefixes are compared in: NFKC, case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _problem(text: str, *, prefix: bool) -> str | None:
    """What is wrong with ``text`` as a key (or, with ``prefix``, a list prefix)."""
    if "\\" in text:
        return "contains a backslash"
    if _CONTROL.search(text):
        return "contains a control character"
    if _ESCAPE.search(text):
        return "contains a percent-encoded character (send the key encoded once)"
    if text.startswith("/"):
        return "starts with '/'"
    segments = text.split("/")
    if prefix and segments[-1] == "":
        segments.pop()  # "docs/" lists a folder
    for segment in segments:
        if segment == "":
            return "contains an empty segment ('//' or a trailing '/')"
        if segment in (".", ".."):
            return f"contains a {segment!r} segment"
    return None


def normalize_key(key: str, *, prefix: bool = False) -> str:
    """``key`` if it is plain, else ``InvalidObjectKey`` saying why. A list ``prefix`` may
    be empty and may end with ``/``."""
    param = "prefix" if prefix else "key"
    if not key:
        if prefix:
            return key
        raise InvalidObjectKey("the object key is empty", param=param)
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidObjectKey(f"the {param} is longer than {MAX_KEY_BYTES} bytes", param=param)
    for form in (key, unicodedata.normalize("NFKC", key)):
        problem = _problem(form, prefix=prefix)
        if problem:
            raise InvalidObjectKey(f"the {param} {problem}", param=param)
    return key


def tenant_prefix(tenant: str) -> str:
    """Where ``tenant``'s objects live in every bucket."""
    if not _TENANT.match(tenant):
        # Tenant names come from the API keys setting; one that could escape its prefix
        # is a configuration mistake, refused rather than trusted.
        raise AccessDenied("this tenant's name cannot be used as a storage prefix")
    return f"{TENANTS_ROOT}{tenant}/"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """An object as the tenant names it (``key``) and where it lives (``stored_key``)."""

    bucket: str
    key: str
    stored_key: str


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """One route's rules: the buckets it reaches and the prefixes it never touches."""

    allowed_buckets: frozenset[str]
    denied_prefixes: tuple[str, ...]  # folded

    @classmethod
    def from_config(cls, config: AccessConfig) -> AccessPolicy:
        return cls(
            frozenset(config.allowed_buckets), tuple(fold(p) for p in config.denied_prefixes)
        )

    def check_bucket(self, bucket: str) -> None:
        if bucket not in self.allowed_buckets:
            raise AccessDenied(f"bucket {bucket!r} is not allowed on this route", param="bucket")

    def denied(self, key: str) -> bool:
        folded = fold(key)
        return any(folded.startswith(p) for p in self.denied_prefixes)

    def object_ref(self, tenant: str, bucket: str, key: str) -> ObjectRef:
        """The checked object ``tenant`` names; ``InvalidObjectKey`` or ``AccessDenied``."""
        normalize_key(key)
        self.check_bucket(bucket)
        if self.denied(key):
            raise AccessDenied("the key is under a denied prefix", param="key")
        return ObjectRef(bucket, key, tenant_prefix(tenant) + key)

    def list_prefix(self, tenant: str, bucket: str, prefix: str) -> str:
        """The stored prefix to list for ``tenant``'s ``prefix``. A prefix inside a denied
        one is refused; a denied prefix inside it is filtered out of the answer
        (``denied``), so listing everything never reveals a denied key."""
        normalize_key(prefix, prefix=True)
        self.check_bucket(bucket)
        if prefix and self.denied(prefix):
            raise AccessDenied("the prefix is under a denied prefix", param="prefix")
        return tenant_prefix(tenant) + prefix
