"""Redis replies as text, decoded in one place. A reply is bytes from a client made without
``decode_responses`` (the gateway's: message bodies stay bytes), str from one made with it
(as tests may pass in), or an integer from a Lua script; readers take any of them."""

from __future__ import annotations


def text(value: object) -> str:
    """A reply (bytes, str, or a Lua integer) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def optional_text(value: object) -> str | None:
    """A reply that may be nil (a missing key or hash field) as text, or ``None``."""
    return None if value is None else text(value)
