"""Helpers every SDK adapter uses to turn an upstream HTTP error into a public message:
``retry-after`` parsing, key scrubbing, and extracting the provider's own message."""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime

# The SDKs refuse to start without a key. The emulator accepts any key; a real API answers
# 401 to this one, which surfaces as "provider authentication failed".
PLACEHOLDER_API_KEY = "not-configured"
AUTH_FAILED = "provider authentication failed"
_MAX_MESSAGE_CHARS = 500
# Anything shaped like an OpenAI or Anthropic key (sk-..., sk-proj-..., sk-ant-...), including
# the masked form OpenAI echoes in 401 messages.
_KEY_SHAPED = re.compile(r"sk-[A-Za-z0-9_*-]{6,}")


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date).

    None when absent or unparsable; never negative.
    """
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            seconds = _seconds_until_http_date(value, now) if scale == 1.0 else math.nan
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def _seconds_until_http_date(value: str, now: datetime | None) -> float:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return math.nan
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return (when - (now or datetime.now(UTC))).total_seconds()


def scrub_secrets(text: str, secret: str | None) -> str:
    """``text`` without ``secret`` or anything key-shaped: error messages are public."""
    if secret and len(secret) >= 8:  # replacing a very short "key" would mangle the text
        text = text.replace(secret, "[redacted]")
    return _KEY_SHAPED.sub("[redacted]", text)


def upstream_message(body: object, status: int, secret: str | None) -> str:
    """The provider's own error message from an error body, scrubbed and shortened.

    OpenAI nests it as ``{"error": {"message"}}`` (the SDK may already have unwrapped it),
    Anthropic as ``{"type": "error", "error": {"message"}}``. Anything else (an HTML page from
    a proxy, say) is not shown.
    """
    error = body.get("error", body) if isinstance(body, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    if not isinstance(message, str) or not message.strip():
        return f"the provider answered HTTP {status}"
    return scrub_secrets(message.strip(), secret)[:_MAX_MESSAGE_CHARS]
