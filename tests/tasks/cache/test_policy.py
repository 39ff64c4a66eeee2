"""The cache mode, TTL and key of a request: pure decisions, no Redis needed."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidRequest
from tasks.cache.policy import (
    CacheMode,
    CacheSettings,
    cache_key,
    requested_mode,
    ttl_seconds,
    uncacheable,
)

BOUNDS = CacheSettings(default_ttl_seconds=60, max_ttl_seconds=600)
REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}


def test_the_header_wins_over_the_tenant_default() -> None:
    assert requested_mode(None, None) is CacheMode.OFF
    assert requested_mode(None, 30) is CacheMode.USE
    assert requested_mode("off", 30) is CacheMode.OFF
    assert requested_mode(" Refresh ", None) is CacheMode.REFRESH


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="use, refresh or off"):
        requested_mode("always", None)


def test_ttl_comes_from_the_header_then_the_tenant_then_the_default_within_the_max() -> None:
    assert ttl_seconds("5", 30, BOUNDS) == 5
    assert ttl_seconds(None, 30, BOUNDS) == 30
    assert ttl_seconds(None, None, BOUNDS) == 60
    assert ttl_seconds(None, 10_000, BOUNDS) == 600
    for bad in ("0", "601", "-1", "1.5", "x"):
        with pytest.raises(InvalidRequest):
            ttl_seconds(bad, None, BOUNDS)


def test_the_key_ignores_order_and_transport_but_not_parameters_or_tenant() -> None:
    key = cache_key("a", REQUEST)
    assert cache_key("a", dict(reversed(list(REQUEST.items())))) == key
    assert cache_key("a", {**REQUEST, "stream": True}) == key
    assert cache_key("a", {**REQUEST, "temperature": 0.3}) != key
    assert cache_key("b", REQUEST) != key
    nested = {**REQUEST, "response_format": {"type": "json_object", "x": 1}}
    swapped = {**REQUEST, "response_format": {"x": 1, "type": "json_object"}}
    assert cache_key("a", nested) == cache_key("a", swapped)


def test_what_is_not_cacheable_says_why() -> None:
    assert uncacheable(REQUEST, None, set()) is None
    assert uncacheable(REQUEST, "sess_1", set()) == "session"
    assert uncacheable({**REQUEST, "tool_loop": {}}, None, set()) == "tool_loop"
    ours = {**REQUEST, "tools": [{"type": "function", "function": {"name": "web_search"}}]}
    assert uncacheable(ours, None, {"web_search"}) == "gateway_tools"
    assert uncacheable(ours, None, set()) is None
    stored = {"type": "document", "source": {"type": "storage", "route": "r"}}
    with_doc = {**REQUEST, "messages": [{"role": "user", "content": [stored]}]}
    assert uncacheable(with_doc, None, set()) == "document_reference"
    inline = {"type": "document", "source": {"type": "text", "data": "x"}}
    assert (
        uncacheable({**REQUEST, "messages": [{"role": "user", "content": [inline]}]}, None, set())
        is None
    )
