"""Pure-ASGI middleware: request ids, one log line per request, and the body size limit.

Pure ASGI (not ``BaseHTTPMiddleware``) because it sits on every request's hot path.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.anthropic.errors import anthropic_body, is_messages_path
from gateway.errors import PayloadTooLarge
from gateway.settings import Settings

log = structlog.get_logger("api.request")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Binds a request id (from ``X-Request-ID`` or new), echoes it, logs the outcome, and
    refuses bodies over ``Settings.max_body_bytes`` (``batch_max_body_bytes`` for batch
    submissions, ``storage_max_object_bytes`` for storage uploads) with 413, with or
    without Content-Length."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        supplied = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = supplied if _SAFE_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        settings = scope["app"].state.settings
        limit = body_limit(settings, scope.get("method", ""), scope.get("path", ""))

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_413(send, request_id, limit, scope.get("path", ""))
            self._log(scope, 413, started)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI turns this into a bare 400 raised from it; the error handler
                    # answers with this error instead (``api.errors``).
                    raise PayloadTooLarge(f"request body exceeds {limit} bytes")
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        finally:
            self._log(scope, status, started)
            metrics = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                elapsed = time.perf_counter() - started
                metrics.observe_request(scope.get("method", ""), route, status, elapsed)

    @staticmethod
    def _log(scope: Scope, status: int, started: float) -> None:
        # Below INFO (the benches', and many deployments') the line is dropped anyway, after
        # structlog has built its event dict: checked first, it costs one level test.
        if not log.isEnabledFor(logging.INFO):
            return
        log.info(
            "request",
            method=scope.get("method"),
            path=scope.get("path"),
            status=status,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )


def body_limit(settings: Settings, method: str, path: str) -> int:
    # Batches carry whole documents, storage uploads whole objects (streamed to the store,
    # never held): those routes have their own, larger limits.
    if method == "POST" and path == "/v1/batches":
        return settings.batch_max_body_bytes
    if method == "PUT" and path.startswith("/-s3/"):
        return settings.storage_max_object_bytes
    return settings.max_body_bytes


async def _send_413(send: Send, request_id: str, limit: int, path: str) -> None:
    message = f"request body exceeds {limit} bytes"
    error = {"type": "payload_too_large", "message": message, "param": None}
    # The error handlers' choice of shape, made here for the one error sent before them.
    body = orjson.dumps(
        anthropic_body(413, message) if is_messages_path(path) else {"error": error}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
