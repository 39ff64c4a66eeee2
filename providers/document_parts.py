"""The seed's ``document`` content part in the gateway's chat format, to and from the
neutral ``DocumentPart``::

    {"type": "document", "source": {"type": "url", "url": "https://..."}}
    {"type": "document", "source": {"type": "base64", "media_type": "...", "data": "..."}}
    {"type": "document", "source": {"type": "storage", "route": "...", "bucket": "...",
                                    "key": "..."}}

with an optional ``title`` or ``filename``. The gateway reads every one of them itself
before the provider call (``tasks.documents``); this module only checks their shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.json_fields import bad, mapping, optional_string, string
from providers.types import DocumentPart, StorageRef

SOURCE_TYPES = ("url", "base64", "storage")
# The longest URL or key a part may name (S3's key limit is 1024 bytes; URLs as webhooks').
_MAX_URL = 8192
_MAX_NAME = 500


def document_from_seed(part: Mapping[str, Any], param: str) -> DocumentPart:
    """The neutral part for a ``document`` part; ``InvalidRequest`` names a bad field."""
    source = mapping(part.get("source"), f"{param}.source")
    where = f"{param}.source"
    name = optional_string(part, "title", param) or optional_string(part, "filename", param)
    if name is not None and len(name) > _MAX_NAME:
        raise bad(f"{param}.title", f"must be at most {_MAX_NAME} characters")
    kind = source.get("type")
    match kind:
        case "url":
            url = string(source, "url", where)
            if not url.startswith(("https://", "http://")) or len(url) > _MAX_URL:
                raise bad(f"{where}.url", f"must be an http(s) URL of at most {_MAX_URL} chars")
            return DocumentPart(media_type="", url=url, filename=name, by_gateway=True)
        case "base64":
            media_type = string(source, "media_type", where)
            data = string(source, "data", where)
            if not data:
                raise bad(f"{where}.data", "must not be empty")
            return DocumentPart(media_type=media_type, data=data, filename=name, by_gateway=True)
        case "storage":
            ref = StorageRef(
                route=string(source, "route", where),
                bucket=string(source, "bucket", where),
                key=string(source, "key", where),
            )
            return DocumentPart(media_type="", storage=ref, filename=name, by_gateway=True)
        case _:
            expected = ", ".join(SOURCE_TYPES)
            raise bad(f"{where}.type", f"unknown document source {kind!r}; expected {expected}")


def document_to_seed(part: DocumentPart) -> dict[str, Any]:
    """The ``document`` part ``document_from_seed`` read ``part`` from."""
    source: dict[str, Any]
    if part.storage is not None:
        ref = part.storage
        source = {"type": "storage", "route": ref.route, "bucket": ref.bucket, "key": ref.key}
    elif part.url is not None:
        source = {"type": "url", "url": part.url}
    else:
        source = {"type": "base64", "media_type": part.media_type, "data": part.data or ""}
    out: dict[str, Any] = {"type": "document", "source": source}
    if part.filename is not None:
        out["title"] = part.filename
    return out
