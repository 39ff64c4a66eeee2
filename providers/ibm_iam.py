"""IBM Cloud IAM: an API key exchanged for a short-lived bearer token, cached per adapter.

``POST {iam_url}/identity/token`` with the form ``grant_type=urn:ibm:params:oauth:grant-type:
apikey&apikey=...`` answers ``{"access_token", "token_type": "Bearer", "expires_in", ...}``
(https://cloud.ibm.com/docs/iam?topic=iam-iamtoken_from_apikey). Tokens live an hour; one
exchange serves every worker thread until the token is close to expiry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson

from gateway.errors import ProviderError, ProviderRateLimited, ProviderUnavailable
from providers.upstream_errors import (
    AUTH_FAILED,
    error_class_for_status,
    parse_retry_after,
    scrub_secrets,
    timed_out,
    unreachable,
)

DEFAULT_IAM_URL = "https://iam.cloud.ibm.com"
TOKEN_PATH = "/identity/token"  # noqa: S105 - a URL path
APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
# Refresh this long before expiry (or a tenth of the lifetime, if that is shorter), so a
# token never expires between being read and reaching watsonx.ai.
REFRESH_MARGIN_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: float  # monotonic clock


class IamTokenSource:
    """A thread-safe IAM token cache for one API key.

    ``token()`` exchanges the key on first use and again near expiry; ``refresh(stale)``
    replaces a token the service refused (a 401), once for all threads that saw it. Only
    one exchange runs at a time; the others wait for its result. Failures raise
    ``ProviderError``: IAM refusing the key is ``AUTH_FAILED``; IAM unreachable, timing
    out or failing (5xx) is ``ProviderUnavailable``.
    """

    def __init__(
        self,
        client: httpx.Client,
        api_key: str,
        *,
        iam_url: str = DEFAULT_IAM_URL,
        provider: str = "",
        redact: Callable[[str], str] = lambda text: text,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._api_key = api_key
        self._url = iam_url.rstrip("/") + TOKEN_PATH
        self._provider = provider
        self._redact = redact
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None

    def token(self) -> str:
        """A bearer token valid for at least the refresh margin."""
        current = self._token
        if current is not None and self._clock() < current.refresh_at:
            return current.value
        with self._lock:
            current = self._token
            if current is None or self._clock() >= current.refresh_at:
                current = self._token = self._exchange()
            return current.value

    def refresh(self, stale: str) -> str:
        """A new token in place of ``stale``, which the service refused; if another thread
        already replaced it, that replacement (no second exchange)."""
        with self._lock:
            current = self._token
            if current is None or current.value == stale:
                current = self._token = self._exchange()
            return current.value

    def _exchange(self) -> _Token:
        form = {"grant_type": APIKEY_GRANT, "apikey": self._api_key}
        headers = {"Accept": "application/json"}
        started = self._clock()
        try:
            # httpx sends a dict as application/x-www-form-urlencoded.
            response = self._client.post(self._url, data=form, headers=headers)
        except httpx.TimeoutException:
            raise timed_out(self._provider, what="IBM Cloud IAM") from None
        except httpx.HTTPError:
            raise unreachable(self._provider, what="IBM Cloud IAM") from None
        if response.status_code != 200:
            raise self._refusal(response) from None
        try:
            body = orjson.loads(response.content)
            value, lifetime = body["access_token"], float(body["expires_in"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise self._error(ProviderError, "IBM Cloud IAM sent a malformed token") from None
        if not isinstance(value, str) or not value or lifetime <= 0:
            raise self._error(ProviderError, "IBM Cloud IAM sent a malformed token")
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 10)
        return _Token(value=value, refresh_at=started + lifetime - margin)

    def _refusal(self, response: httpx.Response) -> ProviderError:
        """The shared ladder, except that every answer it would reject is IAM refusing the
        key (400 BXNIM0415E "key not found", 401, 403): the operator's key, not the caller."""
        status = response.status_code
        cls = error_class_for_status(status)
        if cls is ProviderRateLimited:
            retry_after = parse_retry_after(response.headers)
            text = "IBM Cloud IAM rate-limited the token exchange"
            return self._error(cls, text, status, retry_after)
        if cls is ProviderUnavailable:
            return self._error(cls, f"IBM Cloud IAM failed (HTTP {status})", status)
        code = _iam_error_code(response)
        detail = f"IBM Cloud IAM refused the API key ({code})" if code else "IAM refused the key"
        return self._error(ProviderError, f"{AUTH_FAILED}: {detail}", status)

    def _error(
        self,
        cls: type[ProviderError],
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> ProviderError:
        text = scrub_secrets(self._redact(message), self._api_key)
        return cls(text, provider=self._provider, upstream_status=status, retry_after=retry_after)


def _iam_error_code(response: httpx.Response) -> str | None:
    """IAM's ``errorCode`` (``BXNIM...``): safe to show, unlike its free-text context."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    code = body.get("errorCode") if isinstance(body, dict) else None
    return code if isinstance(code, str) and code.isalnum() and len(code) <= 16 else None
