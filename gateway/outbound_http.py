"""HTTP for outbound URLs: a client that connects only where the ``OutboundPolicy`` allows,
and ``fetch_document`` for documents given by URL.

The check runs again inside the connection layer, on every new connection: the host is
resolved, every address checked, and the socket opened to one of those checked addresses, so a
DNS answer that changes after the submission check (rebinding) cannot reach a refused address.
Redirects are never followed.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from gateway.errors import DocumentUnavailable, UrlNotAllowed
from gateway.outbound import CREDENTIALS_REFUSED, OutboundPolicy

__all__ = [
    "FetchedDocument",
    "GuardedTransport",
    "decoded_text",
    "fetch_document",
    "guarded_client",
    "overall_deadline",
]


# httpx's timeouts bound each network operation, not a whole request: a server sending one
# byte a second would hold a caller forever. ``overall_deadline`` bounds everything this
# thread's requests do on the guarded connections until it exits.
_deadline = threading.local()


@contextlib.contextmanager
def overall_deadline(seconds: float) -> Iterator[None]:
    """Every connect, read and write of this thread's requests ends by ``seconds`` from now
    (an httpx timeout error after that)."""
    previous = getattr(_deadline, "at", None)
    _deadline.at = time.monotonic() + seconds
    try:
        yield
    finally:
        _deadline.at = previous


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    at: float | None = getattr(_deadline, "at", None)
    if at is None:
        return timeout
    remaining = at - time.monotonic()
    if remaining <= 0:
        raise error("the request's overall deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation respects the current thread's overall deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.SyncBackend):
    """Checks the host at connect time, then connects only to the addresses it checked."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        *others, last = self._policy.check_host(host, port)
        # Like socket.create_connection: try each checked address in turn, the last one's
        # error is the one raised. The addresses are IP literals: no second DNS lookup.
        for address in others:
            with contextlib.suppress(httpcore.ConnectError, httpcore.ConnectTimeout):
                return self._connect(address, port, timeout, local_address, socket_options)
        return self._connect(last, port, timeout, local_address, socket_options)

    def _connect(
        self,
        address: str,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[Any] | None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        stream = super().connect_tcp(address, port, bounded, local_address, socket_options)
        return _DeadlineStream(stream)


_HTTPCORE_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """httpcore's errors as httpx's errors of the same name, as httpx's own transport does."""
    try:
        yield
    except _HTTPCORE_ERRORS as exc:
        mapped = getattr(httpx, type(exc).__name__, httpx.TransportError)
        raise mapped(str(exc)) from exc


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """An httpcore pool whose every new connection goes through ``OutboundPolicy.check_host``.
    TLS SNI and certificate checks use the URL's hostname, not the address connected to."""

    def __init__(self, policy: OutboundPolicy, *, ssl_context: ssl.SSLContext | None = None):
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            network_backend=_GuardedBackend(policy),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.userinfo:
            raise UrlNotAllowed(CREDENTIALS_REFUSED)
        assert isinstance(request.stream, httpx.SyncByteStream)
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def guarded_client(
    policy: OutboundPolicy,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.Client:
    """An httpx client that reaches only addresses ``policy`` approves when it connects; a
    refused connect raises UrlNotAllowed. No redirects; environment proxies are ignored."""
    return httpx.Client(
        transport=GuardedTransport(policy, ssl_context=ssl_context),
        timeout=timeout,
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )


@dataclass(frozen=True)
class FetchedDocument:
    """A document read by ``fetch_document``: UTF-8 text, BOM stripped."""

    text: str
    content_type: str  # the media type without parameters, e.g. "text/markdown"
    bytes: int  # as received, a BOM included


_TEXT_TYPES = frozenset(
    {
        "application/markdown",
        "application/x-markdown",
        "application/json",
        "application/xml",
        "application/octet-stream",
    }
)


def fetch_document(client: httpx.Client, url: str, *, max_bytes: int) -> FetchedDocument:
    """GET a UTF-8 text document of at most ``max_bytes``; DocumentUnavailable otherwise. The
    whole request, headers and body, must finish within the client's read timeout (a
    dripping server is cut off). A URL the client's policy refuses raises UrlNotAllowed."""
    seconds = client.timeout.read or float("inf")
    deadline = time.monotonic() + seconds
    headers = {"Accept-Encoding": "identity"}  # sizes are counted on the wire: no zip bombs
    try:
        with (
            overall_deadline(seconds),
            client.stream("GET", url, headers=headers, follow_redirects=False) as response,
        ):
            content_type = _checked_content_type(response, max_bytes)
            body = bytearray()
            for chunk in response.iter_raw():
                body += chunk
                if len(body) > max_bytes:
                    raise DocumentUnavailable(f"the document is larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise _unavailable("timed out")
    except httpx.TimeoutException as exc:
        raise _unavailable("timed out") from exc
    except httpx.InvalidURL as exc:
        raise _unavailable("the URL is invalid") from exc
    except httpx.TransportError as exc:  # connection refused or reset, bad HTTP, bad scheme
        raise _unavailable("connection failed") from exc
    return FetchedDocument(decoded_text(bytes(body)), content_type, len(body))


def _unavailable(reason: str) -> DocumentUnavailable:
    return DocumentUnavailable(f"the document could not be fetched: {reason}")


def _checked_content_type(response: httpx.Response, max_bytes: int) -> str:
    status = response.status_code
    if 300 <= status < 400:
        raise _unavailable(f"the server answered {status}; redirects are not followed")
    if not 200 <= status < 300:
        raise _unavailable(f"the server answered {status}")
    if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
        raise _unavailable("compressed responses are not accepted")
    content_type: str = response.headers.get("content-type", "application/octet-stream")
    media_type = content_type.split(";")[0].strip().lower()[:100]
    if not (
        media_type.startswith("text/")
        or media_type in _TEXT_TYPES
        or media_type.endswith(("+json", "+xml"))
    ):
        raise DocumentUnavailable(f"the document is not text (content type {media_type})")
    length: str = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise DocumentUnavailable(f"the document is larger than {max_bytes} bytes")
    return media_type


def decoded_text(body: bytes) -> str:
    """``body`` as UTF-8 text (a BOM stripped); ``DocumentUnavailable`` if it is not text."""
    try:
        text = body.decode("utf-8-sig")  # strips a BOM
    except UnicodeDecodeError:
        raise DocumentUnavailable("the document is not valid UTF-8 text") from None
    if "\x00" in text:
        raise DocumentUnavailable("the document is not text (it contains NUL bytes)")
    return text
