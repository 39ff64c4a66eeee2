"""Google OAuth access tokens for the Vertex adapter: a service-account key's JWT exchange
or Google's application default credentials, refreshed under one lock for every worker
thread, with the token exchange's own timeout."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport.requests
import requests
from google.oauth2 import service_account

from gateway.credentials import Credentials
from providers.config import InstanceConfig

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]

GoogleCredentials = google.auth.credentials.Credentials


def google_default_available(config: InstanceConfig) -> bool:
    """Whether Google's application default credentials can be found here."""
    try:
        google.auth.default(scopes=SCOPES)
    except google.auth.exceptions.DefaultCredentialsError:
        return False
    return True


class _TimedRequest(google.auth.transport.requests.Request):
    """google-auth's HTTP transport with our timeout: its default for the token
    exchange is two minutes."""

    def __init__(self, timeout: float) -> None:
        super().__init__(requests.Session())
        self._timeout = timeout

    def __call__(self, *args: object, **kwargs: object) -> object:
        kwargs["timeout"] = self._timeout
        return super().__call__(*args, **kwargs)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self.session.close()


class AccessTokens:
    """The instance's access token, refreshed shortly before it expires. Workers call
    from many threads: one lock, so one exchange refreshes it for all of them."""

    def __init__(self, load: Callable[[], GoogleCredentials], timeout: float) -> None:
        self._load = load
        self._credentials: GoogleCredentials | None = None
        self._lock = threading.Lock()
        self._transport = _TimedRequest(timeout)

    def headers(self) -> dict[str, str]:
        """``Authorization`` (and the quota project, for user credentials)."""
        with self._lock:
            if self._credentials is None:
                self._credentials = self._load()
            credentials = self._credentials
            if credentials.token_state != google.auth.credentials.TokenState.FRESH:
                credentials.refresh(self._transport)  # type: ignore[no-untyped-call]
            headers = {"Authorization": f"Bearer {credentials.token}"}
            if credentials.quota_project_id:
                headers["x-goog-user-project"] = credentials.quota_project_id
            return headers

    @property
    def current(self) -> str | None:
        """The token last issued, to scrub from error messages."""
        token = self._credentials.token if self._credentials is not None else None
        return token if isinstance(token, str) else None

    def close(self) -> None:
        self._transport.close()


def loader(config: InstanceConfig, credentials: Credentials) -> Callable[[], GoogleCredentials]:
    key = credentials.get("service_account_json")
    if key is None:
        # The default chain (credentials.ambient) or nothing configured: resolved on first
        # use, so a missing chain fails that call as an authentication error.
        def default() -> GoogleCredentials:
            found, _ = google.auth.default(scopes=SCOPES)
            return found

        return default
    try:
        account = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            json.loads(key), scopes=SCOPES
        )
    except (ValueError, TypeError, google.auth.exceptions.GoogleAuthError):
        # The parser's message may quote the key: say only what is wrong.
        raise ValueError(
            f"{config.name}: service_account_json is not a Google service-account key file"
        ) from None
    return lambda: account


def key_lines(key: str | None) -> tuple[str, ...]:
    """The private key's PEM lines: inside the key file's JSON they are one escaped line,
    which ``Credentials.redact`` (line by line) would not catch."""
    try:
        pem = json.loads(key or "{}").get("private_key")
    except (ValueError, AttributeError):
        return ()
    lines = pem.splitlines() if isinstance(pem, str) else []
    return tuple(line for line in lines if len(line) >= 16)
