"""A vendor's JSON-over-HTTP API spoken with urllib3: the one request a chat job makes,
posted and read as JSON, or as its server-sent events. The OpenAI, Azure and Anthropic
adapters send their chat calls through it; each gives its own error translation.

Why not the vendors' SDKs: per call, the OpenAI SDK's request building and httpx's transport
cost the worker 2.1 ms of CPU, a plain httpx post 1.3 ms, urllib3 0.76 ms
(``bench/provider_cpu.py``), on a path whose whole budget is a few milliseconds. What the
SDKs did that matters is kept: no retries (retrying is the gateway's job, and a hidden retry
would double-count against the instance's limits), no redirects followed, a timeout per
network operation, the environment's proxy settings (``HTTPS_PROXY``, ``NO_PROXY``), certifi's
CA bundle (or ``SSL_CERT_FILE``), and no request detail in any error: every failure is a
``ProviderError`` raised ``from None``.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import certifi
import orjson
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from gateway.errors import ProviderError
from providers.sse import ServerSentEvent, server_sent_events
from providers.upstream_errors import (
    check_stream_type,
    decode_reply,
    stream_cut_short,
    timed_out,
    unreachable,
)

# Connections kept per host: a worker's pool threads share them (more are opened when all
# are busy, and closed after use).
POOL_CONNECTIONS = 100
READ_SIZE = 65536

StatusError = Callable[[int, Mapping[str, str], bytes], ProviderError]
"""A vendor's translation of an error reply: its status, headers and body."""


class JsonWire:
    """One connection pool for a vendor's server. ``provider`` (the instance) names the
    errors; ``status_error`` translates an error reply."""

    def __init__(
        self, base_url: str, *, timeout: float, provider: str, status_error: StatusError
    ) -> None:
        self.provider = provider
        self._status_error = status_error
        self._pool = _pool_for(base_url)
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)

    def post(self, url: str, body: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
        """The reply's JSON object; every failure is a ``ProviderError``."""
        response = self._send(url, body, headers, stream=False)
        if not 200 <= response.status < 300:
            raise self._status_error(response.status, response.headers, response.data) from None
        content_type = response.headers.get("content-type")
        return decode_reply(response.data, content_type, provider=self.provider)

    def events(
        self,
        url: str,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        last: Callable[[ServerSentEvent], bool] = lambda event: False,
    ) -> Generator[ServerSentEvent, None, None]:
        """The server-sent events of the stream ``body`` asks for, each as it arrives, up to
        the end of the body or the event ``last`` accepts (which is not yielded); every
        failure of the request or the connection is a ``ProviderError``."""
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
                if last(event):
                    done = True
                    break
                yield event
        except Urllib3Timeout:
            raise timed_out(self.provider) from None
        except Urllib3Error:
            # The 200 is in: a connection failing now cut the stream short.
            raise stream_cut_short(provider=self.provider) from None
        finally:
            # Read to its end, the connection goes back to the pool (urllib3 returns it at
            # the end of the body, which follows the last event); a stream left early loses it.
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


def _pool_for(base_url: str) -> urllib3.PoolManager:
    """A pool manager honouring ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` for ``base_url``'s
    host, as the SDKs' httpx clients did; certificates from ``SSL_CERT_FILE`` or certifi's
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
