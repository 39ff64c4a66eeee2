"""``HeavyLaneMiddleware``: large request bodies are served by a sibling API process, so
``/health`` (and every small request) never waits behind their parsing.

Parsing and validating a large body happens off the event loop already (``api.body_route``),
but single C calls (orjson parsing a node-dense 1 MiB body: 30-48 ms) hold the GIL, which
the loop then waits for: with 8 clients sending such bodies, ``/health`` p99 was 79-138 ms.
Threads cannot fix that; another process can (docs/benchmarks.md, "/health under load").

The outermost middleware: a POST whose Content-Length is at least
``Settings.heavy_lane_body_bytes`` (and within the route's body limit: a larger one gets its
413 here, unread) is forwarded byte for byte over the sibling's Unix socket
(``api.lane_sibling``), and its response (status, headers, body) relayed chunk by chunk, so
an SSE stream stays a stream. A client that goes away closes the upstream request, so the
sibling sees the disconnect as it would have here. Requests without Content-Length (chunked)
stay in-process: their size is unknown until read.

A lane failure never loses a request: if the sibling is not up, or cannot be reached, or
fails while the body is still being sent (so it cannot have acted on it), the request is
handled here as before, from the bytes already read. Only a sibling that dies after taking a
whole request and before answering costs a 503 (the request may or may not have taken
effect, as when any process dies mid-request; a retry with the same idempotency key is safe).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import gateway_error_response
from api.lane_sibling import LaneSibling
from api.middleware import body_limit
from gateway.errors import ServiceUnavailable

log = structlog.get_logger(__name__)

# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection, not the request. ``expect``
# too: the client's 100-continue was already answered by this process's server.
_REQUEST_DROPPED = frozenset(
    (
        *(b"connection", b"keep-alive", b"proxy-connection", b"te", b"transfer-encoding"),
        *(b"upgrade", b"expect", b"x-forwarded-for", b"x-forwarded-proto"),
    )
)
# The server here adds its own ``date`` and ``server``, and frames the body itself.
_RESPONSE_DROPPED = frozenset(
    (b"connection", b"keep-alive", b"transfer-encoding", b"date", b"server")
)


class HeavyLaneMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sibling: LaneSibling | None = None
        if scope["type"] == "http" and scope["method"] == "POST":
            sibling = getattr(scope["app"].state, "heavy_lane", None)
        if sibling is None or not sibling.ready or not _is_heavy(scope, sibling):
            await self.app(scope, receive, send)
            return
        await _Forward(scope, receive, send, sibling).run(self.app)


def _is_heavy(scope: Scope, sibling: LaneSibling) -> bool:
    declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
    if declared is None or not declared.isdigit():
        return False
    limit = body_limit(scope["app"].state.settings, scope["method"], scope["path"])
    return sibling.threshold_bytes <= int(declared) <= limit


class _ClientGone(Exception):
    """The client disconnected while its body was being forwarded."""


class _Forward:
    """One request's trip through the sibling."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, sibling: LaneSibling) -> None:
        self.scope, self.receive, self.send, self.sibling = scope, receive, send, sibling
        # The body read so far, kept until all of it is sent: handled here after all if the
        # sibling fails before it has the whole request.
        self.read: list[bytes] | None = []
        self.body_ended = False
        self.body_sent = anyio.Event()

    async def run(self, app: ASGIApp) -> None:
        metrics = self.sibling.metrics.heavy_lane
        try:
            response = await self.sibling.client.send(self._request(), stream=True)
        except _ClientGone:
            return
        except httpx.TransportError as exc:
            if self.read is None:  # the sibling had the whole request: it may have acted
                metrics.labels("failed").inc()
                log.warning("heavy_lane_failed", error=repr(exc))
                error = ServiceUnavailable("the request was interrupted; retry it")
                await gateway_error_response(self.scope["path"], error)(
                    self.scope, self.receive, self.send
                )
                return
            metrics.labels("fallback").inc()
            log.warning("heavy_lane_fallback", error=repr(exc))
            await app(self.scope, self._replay(self.read), self.send)
            return
        metrics.labels("forwarded").inc()
        try:
            await self._relay(response)
        finally:
            # Closing a response not read to its end closes its connection: the sibling
            # sees the client's disconnect (cancel_on_disconnect works as in-process).
            await response.aclose()

    def _request(self) -> httpx.Request:
        scope = self.scope
        headers = [(k, v) for k, v in scope["headers"] if k not in _REQUEST_DROPPED]
        # The sibling's server trusts these (it listens on a socket only this user can
        # reach), and they are set here, never passed on from the client.
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", str(client[0]).encode()))
        headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        url = httpx.URL("http://lane", raw_path=target)
        return httpx.Request(scope["method"], url, headers=headers, content=self._body())

    async def _body(self) -> AsyncIterator[bytes]:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            assert self.read is not None
            self.read.append(chunk)
            self.body_ended = not message.get("more_body", False)
            if chunk:
                yield chunk
            if self.body_ended:
                break
        # Resumed after the last chunk was written: from here the sibling has it all.
        self.read = None
        self.body_sent.set()

    def _replay(self, read: list[bytes]) -> Receive:
        replayed = False

        async def receive() -> Message:
            nonlocal replayed
            if replayed:
                return await self.receive()
            replayed = True
            body = b"".join(read)
            return {"type": "http.request", "body": body, "more_body": not self.body_ended}

        return receive

    async def _relay(self, response: httpx.Response) -> None:
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _RESPONSE_DROPPED]
        async with anyio.create_task_group() as group:
            group.start_soon(self._watch_disconnect, group.cancel_scope)
            await self.send(
                {"type": "http.response.start", "status": response.status_code, "headers": headers}
            )
            try:
                async for chunk in response.aiter_raw():
                    message = {"type": "http.response.body", "body": chunk, "more_body": True}
                    await self.send(message)
            except httpx.TransportError as exc:
                # The status line is gone: all that is left is to end the connection, as
                # a failure mid-response here would.
                log.warning("heavy_lane_broken_response", error=repr(exc))
                raise
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})
            group.cancel_scope.cancel()

    async def _watch_disconnect(self, relay: anyio.CancelScope) -> None:
        # The server's receive() is the only way to hear of a disconnect, and the body reader
        # owns it until the body is sent (a response that starts before then is short: an
        # early error).
        await self.body_sent.wait()
        while True:
            message: dict[str, Any] = dict(await self.receive())
            if message["type"] == "http.disconnect":
                relay.cancel()
                return
