"""Whether and how a request uses the response cache, and its key.

The mode comes from the ``x-llm-gateway-cache`` header (``use``, ``refresh``: store but
do not read, ``off``), else from the tenant's ``cache_ttl_seconds`` (on with that TTL),
else off. The key is the tenant and a sha256 of the canonical JSON of the validated
request (defaults applied, keys sorted, no whitespace), so spelling differences hit while
any parameter difference misses; only transport options (``stream``, ``stream_options``)
are left out, since a hit is replayed in either shape.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from gateway import keys
from gateway.errors import InvalidRequest

_TRANSPORT = frozenset({"stream", "stream_options"})


class CacheMode(StrEnum):
    USE = "use"
    REFRESH = "refresh"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class CachePlan:
    """A request that uses the cache: its entry's key, the TTL a stored answer gets, and
    whether the entry is read first (``use``) or only written (``refresh``)."""

    key: str
    ttl_seconds: int
    read: bool


@dataclass(frozen=True, slots=True)
class CacheSettings:
    default_ttl_seconds: int
    max_ttl_seconds: int


def requested_mode(header: str | None, tenant_ttl: int | None) -> CacheMode:
    """The header's mode (400 on an unknown one), else the tenant's default."""
    if header is None:
        return CacheMode.USE if tenant_ttl is not None else CacheMode.OFF
    try:
        return CacheMode(header.strip().lower())
    except ValueError:
        raise InvalidRequest(
            f"x-llm-gateway-cache must be use, refresh or off (got {header[:32]!r})",
            param="x-llm-gateway-cache",
        ) from None


def ttl_seconds(header: str | None, tenant_ttl: int | None, settings: CacheSettings) -> int:
    """The header's TTL (whole seconds, 1..max; 400 otherwise), else the tenant's, else the
    setting's default; never above the maximum."""
    if header is None:
        return min(tenant_ttl or settings.default_ttl_seconds, settings.max_ttl_seconds)
    value = header.strip()
    if not value.isdigit() or not 1 <= int(value) <= settings.max_ttl_seconds:
        raise InvalidRequest(
            f"x-llm-gateway-cache-ttl must be whole seconds from 1 to "
            f"{settings.max_ttl_seconds} (got {header[:32]!r})",
            param="x-llm-gateway-cache-ttl",
        )
    return int(value)


def uncacheable(
    request: Mapping[str, Any], session_id: str | None, gateway_tools: Container[str]
) -> str | None:
    """Why the request's answer must not be cached, or None. A session's history changes
    between requests; the gateway's own tools have side effects and a loop's answer depends
    on what they return; a document read by URL or from storage may change under the same
    name (its content is not known when the key is made)."""
    if session_id is not None:
        return "session"
    if request.get("tool_loop") is not None:
        return "tool_loop"
    for tool in request.get("tools") or ():
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and function.get("name") in gateway_tools:
            return "gateway_tools"
    for message in request.get("messages") or ():
        content = message.get("content") if isinstance(message, Mapping) else None
        for part in content if isinstance(content, list) else ():
            if isinstance(part, Mapping) and part.get("type") == "document":
                source = part.get("source")
                if isinstance(source, Mapping) and source.get("type") in ("url", "storage"):
                    return "document_reference"
    return None


def cache_key(tenant: str, request: Mapping[str, Any]) -> str:
    """The entry's key: tenant-scoped, the digest of the canonical request."""
    normalized = {k: v for k, v in request.items() if k not in _TRANSPORT}
    canonical = orjson.dumps(normalized, option=orjson.OPT_SORT_KEYS)
    return keys.response_cache(tenant, hashlib.sha256(canonical).hexdigest())
