"""How every adapter turns an upstream failure into a gateway error: the one status ladder
(:func:`error_for_status`), the shared transport failures, malformed successful replies
(:func:`malformed_reply`), ``retry-after`` parsing, key scrubbing, and extracting the
provider's own message.

Adapters translate their SDK's or HTTP client's exceptions here, at the edge: what leaves an
adapter is always a ``ProviderError``, never a foreign exception type. Each adapter keeps only
its vendor's special cases (an error code that outranks the status, a quota that waiting will
not lift) and hands the status itself to :func:`error_for_status`.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)

# The SDKs refuse to start without a key. The emulator accepts any key; a real API answers
# 401 to this one, which surfaces as "provider authentication failed".
PLACEHOLDER_API_KEY = "not-configured"
AUTH_FAILED = "provider authentication failed"
_MAX_MESSAGE_CHARS = 500
# Anything shaped like an OpenAI or Anthropic key (sk-..., sk-proj-..., sk-ant-...), including
# the masked form OpenAI echoes in 401 messages.
_KEY_SHAPED = re.compile(r"sk-[A-Za-z0-9_*-]{6,}")
# The operator's credential or permissions were refused.
_AUTH_STATUSES = frozenset({401, 403})
# 4xx statuses that say nothing against the caller's request: worth another attempt.
_TRANSIENT_4XX = frozenset({408, 409, 499})


# The account limits a vendor names (``error_for_status``'s ``account_limit``).
OUT_OF_QUOTA = "the provider account is out of quota"


def error_class_for_status(status: int) -> type[ProviderError]:
    """The gateway's one ladder from an upstream HTTP status to an error class.

    ========================  =========================  =======================================
    status                    class                      why
    ========================  =========================  =======================================
    429                       ``ProviderRateLimited``    wait (``retry_after``), try again
    401, 403                  ``ProviderError``          the operator's credential: 502, no retry
    408, 409, 499, 5xx        ``ProviderUnavailable``    transient: retry, or fall back
    any other 4xx             ``ProviderRejected``       the caller's request: 400, no retry
    anything else (1xx-3xx)   ``ProviderError``          a proxy or a wrong ``base_url``: 502
    ========================  =========================  =======================================

    The edge cases, decided here once. The copies this replaces disagreed; where they did,
    the rule is the one that does not blame the caller for what is not in their request:
    ``ProviderRejected`` answers the caller 400 and stops fallbacks, so it is kept for
    statuses that really are about the request.

    - 409: the gateway's calls are stateless completions, so a conflict is the provider's own
      state (a concurrent-request lock, Google's ``ABORTED``, OCI's ``IncorrectState``), not
      something the caller can fix. The OpenAI and Anthropic SDKs retry it, as did the OpenAI,
      Anthropic and Vertex copies; Bedrock, Ollama and watsonx rejected it. Now retryable
      everywhere (OCI still rejects a 409 whose code is not ``IncorrectState``, as its SDK's
      retry policy does). A wrong guess costs a bounded number of attempts.
    - 499 (client closed request): the gateway did not close it (its own timeouts raise a
      timeout, not a response), so a proxy or the provider's front end gave up in between:
      Google uses it for ``CANCELLED``. Only Vertex retried it; the others rejected it. Now
      retryable everywhere.
    - 408 and every 5xx, 529 (Anthropic's "overloaded") included: retryable, as everywhere.
    - A status below 400 only reaches here when something between the gateway and the
      provider misbehaves (an unfollowed redirect: a wrong ``base_url``); the copies rejected
      it as the caller's fault. Now a plain, non-retried ``ProviderError`` (502).
    """
    if status == 429:
        return ProviderRateLimited
    if status in _AUTH_STATUSES:
        return ProviderError
    if status >= 500 or status in _TRANSIENT_4XX:
        return ProviderUnavailable
    if status >= 400:
        return ProviderRejected
    return ProviderError


def error_for_status(
    status: int,
    message: str,
    *,
    provider: str,
    retry_after: float | None = None,
    account_limit: str | None = None,
) -> ProviderError:
    """The gateway error for an upstream error answer, by :func:`error_class_for_status`.

    ``message`` is the provider's own, already public (see :func:`upstream_message`); an
    authentication failure never shows it, since it may echo the credential. Every error
    carries ``upstream_status`` and ``retry_after``. ``account_limit`` (e.g. "the provider
    account is out of quota") says the vendor named an account limit that waiting will not
    lift: a plain, non-retryable ``ProviderError`` whatever the status (often a 429).
    """
    if account_limit is not None:
        text = f"{account_limit}: {message}"
        return ProviderError(
            text, provider=provider, upstream_status=status, retry_after=retry_after
        )
    cls = error_class_for_status(status)
    if cls is ProviderRateLimited:
        text = f"the provider rate-limited the request: {message}"
    elif cls is ProviderUnavailable:
        text = f"the provider failed: {message}"
    elif cls is ProviderRejected:
        text = message
    elif status in _AUTH_STATUSES:
        # The operator's credential, not the caller's request: a 502, never retried.
        text = AUTH_FAILED
    else:
        text = f"the provider answered HTTP {status} unexpectedly: {message}"
    return cls(text, provider=provider, upstream_status=status, retry_after=retry_after)


def error_body(content: bytes) -> object:
    """An error reply's JSON, or None when it is not JSON (a proxy's HTML page, say)."""
    try:
        body: object = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return body


def timed_out(provider: str, *, what: str = "the provider") -> ProviderUnavailable:
    """A call (or its connection) that ran out of time: retryable."""
    return ProviderUnavailable(f"{what} did not answer in time", provider=provider)


def unreachable(provider: str, *, what: str = "the provider") -> ProviderUnavailable:
    """A call that never got an answer (refused, reset, DNS): retryable."""
    return ProviderUnavailable(f"could not connect to {what}", provider=provider)


MALFORMED_REPLY = "the provider sent a malformed reply"


def malformed_reply(problem: str, *, provider: str = "") -> ProviderUnavailable:
    """A successful (2xx) answer the adapter cannot read: not JSON, not an object, cut short,
    an HTML page, a required field missing or of the wrong type.

    Decided once: the provider's fault, not the caller's (their request was accepted) and not
    the operator's, and usually passing (a proxy's error page, a connection cut mid-body), so
    retryable ``ProviderUnavailable``, which the normal retry and fallback rules then apply.
    ``problem`` names what is wrong (a field path, "not valid JSON"), never the body, which
    may echo the request. Format parsers, which know no instance, leave ``provider`` empty;
    the adapter fills it in with :func:`for_instance`.
    """
    return ProviderUnavailable(f"{MALFORMED_REPLY}: {problem}", provider=provider)


def decode_reply(content: bytes, content_type: str | None, *, provider: str) -> dict[str, Any]:
    """A successful answer's JSON object, or :func:`malformed_reply` saying why not.

    ``content_type`` (None when the client does not expose it) is checked first, so a
    proxy's HTML page is reported as such rather than as bad JSON.
    """
    media_type = (content_type or "").split(";")[0].strip().lower()
    if content_type is not None and not media_type.endswith("json"):
        raise malformed_reply(f"content type {media_type[:60]!r}, not JSON", provider=provider)
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise malformed_reply("not valid JSON", provider=provider) from None
    if not isinstance(body, dict):
        raise malformed_reply("not a JSON object", provider=provider)
    return body


STREAM_CUT_SHORT = "the provider's stream ended before it finished"


def stream_cut_short(*, provider: str = "") -> ProviderUnavailable:
    """A stream that stopped before its end event (the connection closed, a proxy ended the
    body early): retryable, like a call that never answered. Decided once: what arrived is
    not an answer, so the caller never gets a shorter one."""
    return ProviderUnavailable(STREAM_CUT_SHORT, provider=provider)


def stream_failed(message: str, *, provider: str) -> ProviderUnavailable:
    """The provider's own error event in a stream it had already answered 200 to (Anthropic's
    ``overloaded_error``, a Bedrock ``modelStreamErrorException``, OpenAI's error chunk).

    Decided once: retryable ``ProviderUnavailable`` whatever the event says, as a 5xx would
    be. Its status is gone (the 200 went out long before), and the request was accepted, so
    the caller's request is not at fault. ``message`` is the provider's, already public.
    """
    return ProviderUnavailable(f"the provider failed mid-stream: {message}", provider=provider)


def check_stream_type(content_type: str | None, expected: str, *, provider: str) -> None:
    """:func:`malformed_reply` unless a 200 that should stream says it does (``expected``, a
    media type such as ``text/event-stream``): a JSON body or a proxy's HTML page in its
    place is reported as such rather than as a stream that stopped."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != expected:
        shown = media_type[:60] or "none"
        raise malformed_reply(f"content type {shown!r}, not {expected}", provider=provider)


def for_instance(error: ProviderError, provider: str) -> ProviderError:
    """``error`` (from a format parser, which knows no instance) naming ``provider``, same
    class; unchained, since the original's context may hold the request."""
    return type(error)(
        error.message,
        provider=provider,
        upstream_status=error.upstream_status,
        retry_after=error.retry_after,
    )


def call_failed(exc: BaseException, *, provider: str) -> ProviderError:
    """Any other client-side failure; names the exception type, never its text (which may
    hold the request, credentials included)."""
    return ProviderError(f"the provider call failed ({type(exc).__name__})", provider=provider)


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
