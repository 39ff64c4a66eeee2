"""OpenAI's chat-completions wire over urllib3: the one request every chat job makes, posted
and read (as JSON, or as its SSE stream) without the SDK. OpenAI's and Azure's adapters
share it; embeddings still go through the SDK.

Why not the SDK: per call, its request building and httpx's transport cost the worker
1.9 ms of CPU, a plain httpx post 1.1 ms, urllib3 0.45 ms (``bench/provider_cpu.py``), on a
path whose whole budget is a few milliseconds. What the SDK did that matters is kept: no
retries (retrying is the gateway's job, and a hidden retry would double-count against the
instance's limits), a timeout per network operation, the environment's proxy settings, the
provider's error body and ``Retry-After``, a stream's error chunk, and no credential in any
error (every failure is a ``ProviderError`` raised ``from None``).
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Generator, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import certifi
import orjson
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from gateway.errors import ProviderError
from providers.sse import server_sent_events
from providers.upstream_errors import (
    check_stream_type,
    decode_reply,
    error_for_status,
    malformed_reply,
    parse_retry_after,
    stream_cut_short,
    stream_failed,
    timed_out,
    unreachable,
    upstream_message,
)

# Usage arrives only when asked for, in a chunk of its own before [DONE].
STREAM_OPTIONS = {"include_usage": True}
# Connections kept per host: a worker's pool threads share them (more are opened when all
# are busy, and closed after use).
POOL_CONNECTIONS = 100
READ_SIZE = 65536


class OpenAIWire:
    """One connection pool for an OpenAI-shaped server; ``provider`` (the instance) and
    ``secret`` (scrubbed from any message the server echoes) name its errors."""

    def __init__(self, base_url: str, *, timeout: float, provider: str, secret: str) -> None:
        self.provider = provider
        self._secret = secret
        self._pool = _pool_for(base_url)
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)

    def post(self, url: str, body: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
        """The reply's JSON object; every failure is a ``ProviderError``."""
        response = self._send(url, body, headers, stream=False)
        if not 200 <= response.status < 300:
            raise self._status_error(response.status, response.headers, response.data) from None
        content_type = response.headers.get("content-type")
        return decode_reply(response.data, content_type, provider=self.provider)

    def stream(
        self, url: str, body: dict[str, Any], headers: Mapping[str, str]
    ) -> Generator[object, None, None]:
        """The decoded chunks of the stream ``body`` asks for (``stream`` and usage are set
        here), each as it arrives, up to ``[DONE]``; every failure is a ``ProviderError``."""
        body = {**body, "stream": True, "stream_options": STREAM_OPTIONS}
        headers = {**headers, "Accept": "text/event-stream"}
        response = self._send(url, body, headers, stream=True)
        done = False
        try:
            if not 200 <= response.status < 300:
                raise self._status_error(
                    response.status, response.headers, response.read()
                ) from None
            content_type = response.headers.get("content-type")
            check_stream_type(content_type, "text/event-stream", provider=self.provider)
            for event in server_sent_events(_lines(response)):
                if event.data.startswith("[DONE]"):
                    done = True
                    break
                yield self._chunk(event.data)
        except Urllib3Timeout:
            raise timed_out(self.provider) from None
        except Urllib3Error:
            # The 200 is in: a connection failing now cut the stream short.
            raise stream_cut_short(provider=self.provider) from None
        finally:
            # Read to its end, the connection goes back to the pool (urllib3 returns it at
            # the end of the body, which follows [DONE]); a stream left early loses it.
            if done:
                response.drain_conn()
            else:
                response.close()

    def close(self) -> None:
        self._pool.clear()

    def _send(
        self, url: str, body: dict[str, Any], headers: Mapping[str, str], *, stream: bool
    ) -> urllib3.BaseHTTPResponse:
        try:
            return self._pool.request(
                "POST",
                url,
                body=orjson.dumps(body),
                headers={"Content-Type": "application/json", **headers},
                timeout=self._timeout,
                retries=False,
                redirect=False,
                preload_content=not stream,
            )
        except NewConnectionError:  # before timeouts: urllib3 makes it a ConnectTimeoutError
            raise unreachable(self.provider) from None
        except Urllib3Timeout:
            raise timed_out(self.provider) from None
        except Urllib3Error:
            # "from None" throughout: urllib3's exceptions may hold the request's URL.
            raise unreachable(self.provider) from None

    def _chunk(self, data: str) -> object:
        """One event's chunk; ``stream_failed`` for the provider's error chunk."""
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            error = malformed_reply("a stream event is not valid JSON", provider=self.provider)
            raise error from None
        if isinstance(chunk, dict) and chunk.get("error"):
            raise stream_failed(upstream_message(chunk, 200, self._secret), provider=self.provider)
        return chunk

    def _status_error(
        self, status: int, headers: Mapping[str, str], content: bytes
    ) -> ProviderError:
        """An error reply, translated. OpenAI's own case: an exhausted quota
        (``insufficient_quota``) is a 429 too, but waiting will not help, so it is not
        retryable. The status goes through the shared ladder."""
        try:
            body: object = orjson.loads(content)
        except orjson.JSONDecodeError:
            body = None
        retry_after = parse_retry_after(headers)
        message = upstream_message(body, status, self._secret)
        error = body.get("error") if isinstance(body, dict) else None
        if status == 429 and isinstance(error, dict) and error.get("code") == "insufficient_quota":
            return ProviderError(
                f"the provider account is out of quota: {message}",
                provider=self.provider,
                upstream_status=status,
                retry_after=retry_after,
            )
        return error_for_status(status, message, provider=self.provider, retry_after=retry_after)


def _pool_for(base_url: str) -> urllib3.PoolManager:
    """A pool manager honouring ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` for ``base_url``'s
    host, as the SDK's httpx client did; certificates from ``SSL_CERT_FILE`` or certifi's
    bundle (the one httpx used)."""
    options: dict[str, Any] = {"maxsize": POOL_CONNECTIONS, "block": False}
    parts = urlsplit(base_url)
    if parts.scheme == "https":
        options["ca_certs"] = os.environ.get("SSL_CERT_FILE") or certifi.where()
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[str]:
    """The body's lines without their endings, each as soon as it is whole: ``read1`` returns
    what has arrived rather than waiting for a full buffer, chunked or not."""
    pending = b""
    while chunk := response.read1(READ_SIZE):
        pending += chunk
        *whole, pending = pending.split(b"\n")
        for line in whole:
            yield line.removesuffix(b"\r").decode(errors="replace")
    if pending:
        yield pending.removesuffix(b"\r").decode(errors="replace")
