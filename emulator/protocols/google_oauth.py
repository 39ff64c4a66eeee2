"""Google's OAuth 2.0 token endpoint for service accounts (``POST /token``), emulated.

A client (google-auth) posts a signed JWT (the ``jwt-bearer`` grant) to the ``token_uri``
of its key file (``emulator.local_env`` writes one pointing here) and gets an access token.
The JWT's shape and claims are checked as Google does, not its signature: the emulator has
no public key. Issued tokens live in the :class:`GoogleTokens` instance (one per app).
``GET /_emulator/google/token-exchanges`` lists the exchanges, for tests.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
import urllib.parse
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.local_env import GOOGLE_TOKEN_PATH
from emulator.responses import JSONResponse

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_SECONDS = 3600
EXCHANGES_PATH = "/_emulator/google/token-exchanges"
GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"


class GoogleTokens:
    """Issues access tokens for valid JWT assertions and recognises them afterwards."""

    def __init__(self) -> None:
        self._issued: dict[str, dict[str, Any]] = {}  # access token -> its exchange
        self._exchanges: deque[dict[str, Any]] = deque(maxlen=1000)

    def _exchange_of(self, headers: Mapping[str, str]) -> dict[str, Any] | None:
        authorization = headers.get("authorization", "")
        if not authorization.lower().startswith("bearer "):
            return None
        exchange = self._issued.get(authorization[7:].strip())
        return exchange if exchange is not None and exchange["expires"] > time.time() else None

    def authorized(self, headers: Mapping[str, str]) -> bool:
        """Whether ``Authorization: Bearer`` holds a token issued here and not expired."""
        return self._exchange_of(headers) is not None

    def describe(self, headers: Mapping[str, str]) -> dict[str, str] | None:
        """The exchange that issued the request's token (when, for which account)."""
        exchange = self._exchange_of(headers)
        if exchange is None:
            return None
        return {"token_exchanged_at": str(exchange["t"]), "service_account": exchange["iss"]}

    def routes(self) -> Sequence[BaseRoute]:
        """The token endpoint and the list of exchanges seen."""
        return [
            Route(GOOGLE_TOKEN_PATH, self._token, methods=["POST"]),
            Route(EXCHANGES_PATH, self._list_exchanges, methods=["GET"]),
        ]

    async def _token(self, request: Request) -> Response:
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        grant, assertion = (form.get(key, [""])[0] for key in ("grant_type", "assertion"))
        if grant != JWT_BEARER:
            return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant}")
        now = time.time()
        try:
            claims = _check_assertion(assertion, request.url.path, now)
        except ValueError as exc:
            return _oauth_error("invalid_grant", str(exc))
        self._issued = {t: e for t, e in self._issued.items() if e["expires"] > now}
        token = "ya29.emulated-" + secrets.token_urlsafe(32)
        exchange = {"t": now, **{k: claims[k] for k in ("iss", "aud", "scope")}}
        self._issued[token] = {**exchange, "expires": now + TOKEN_SECONDS}
        self._exchanges.append(exchange)
        body = {"access_token": token, "expires_in": TOKEN_SECONDS, "token_type": "Bearer"}
        return JSONResponse(body)

    async def _list_exchanges(self, request: Request) -> Response:
        return JSONResponse({"exchanges": list(self._exchanges)})


def _oauth_error(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def _b64json(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        raise ValueError(f"Invalid JWT: the {what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise ValueError(f"Invalid JWT: the {what} is not a JSON object")
    return value


def _check_assertion(assertion: str, token_path: str, now: float) -> dict[str, Any]:
    """The claims of a service-account JWT, checked as Google's token endpoint would
    (except the signature); ``ValueError`` says what is wrong."""
    segments = assertion.split(".")
    if len(segments) != 3 or not all(segments):
        raise ValueError("Invalid JWT: expected header.claims.signature")
    if _b64json(segments[0], "header").get("alg") != "RS256":
        raise ValueError("Invalid JWT: the signature algorithm must be RS256")
    claims = _b64json(segments[1], "claim set")
    for claim in ("iss", "aud", "scope"):
        if not isinstance(claims.get(claim), str) or not claims[claim]:
            raise ValueError(f"Invalid JWT: claim {claim!r} is missing")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        raise ValueError("Invalid JWT: iat and exp must be integers")
    if exp < now or exp - iat > TOKEN_SECONDS:
        raise ValueError("Invalid JWT: Token must be a short-lived token (60 minutes)")
    # google-auth always names Google's endpoint, whatever the key file's token_uri.
    audience = claims["aud"]
    if audience != GOOGLE_AUDIENCE and urllib.parse.urlsplit(audience).path != token_path:
        raise ValueError("Invalid JWT: the audience is not a token endpoint")
    return claims
