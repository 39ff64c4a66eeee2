"""What the client raises: every failure is a :class:`GatewayClientError`.

    GatewayClientError          the gateway answered with an error, or the call failed
     └── GatewayUnreachable     no connection to the gateway (refused, DNS, connect timeout)

httpx's exceptions never reach the caller: they are translated here.
"""

from __future__ import annotations

from typing import Any

import httpx


class GatewayClientError(Exception):
    """A call to the gateway failed. ``status_code`` is the HTTP status (``None`` when no
    response came back); ``type``, ``message`` and ``param`` come from the gateway's error
    body when it has one."""

    def __init__(
        self, status_code: int | None, type: str, message: str, param: str | None = None
    ) -> None:
        super().__init__(f"{type}: {message}")
        self.status_code = status_code
        self.type = type
        self.message = message
        self.param = param


class GatewayUnreachable(GatewayClientError):
    """The gateway could not be reached at all."""


def error_from_response(response: httpx.Response) -> GatewayClientError:
    """The gateway's ``{"error": {...}}`` as an exception; any other body (a proxy's HTML
    page, an empty 502) still gives one, named after the status."""
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("type"), str):
        param = error.get("param")
        return GatewayClientError(
            status,
            error["type"],
            str(error.get("message") or response.reason_phrase),
            param if isinstance(param, str) else None,
        )
    text = response.text.strip()
    message = f"HTTP {status} {response.reason_phrase}".rstrip()
    if text:
        message += f": {text[:200]}"
    return GatewayClientError(status, f"http_{status}", message)


def error_from_transport(exc: httpx.TransportError, base_url: str) -> GatewayClientError:
    """A failed exchange: no connection is :class:`GatewayUnreachable`; a connection that
    gave no complete answer in time is a ``timeout``; anything else a ``transport_error``."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return GatewayUnreachable(None, "unreachable", f"cannot reach {base_url}: {detail}")
    if isinstance(exc, httpx.TimeoutException):
        return GatewayClientError(None, "timeout", f"no answer from {base_url} in time")
    return GatewayClientError(None, "transport_error", f"{base_url}: {detail}")
