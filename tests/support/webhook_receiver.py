"""A real webhook receiver for the tests: an HTTP server on localhost that verifies every
delivery with the ``standardwebhooks`` library, as a client's receiver would, and keeps
what it accepted and what it rejected. It can be taken down and brought back on the same
port, or told to answer with an error."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.processes import free_port


@dataclass
class Delivery:
    """One request that reached the receiver."""

    headers: dict[str, str]
    body: bytes
    verified: bool
    event: dict[str, Any] | None
    error: str | None
    at: float


@dataclass
class WebhookReceiver:
    """Verifies with ``secret``; answers ``status`` (200 by default) to verified deliveries
    and 401 to the rest."""

    secret: str
    port: int = field(default_factory=free_port)
    status: int = 200
    delay_seconds: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        # "localhost": the stack allowlists that name; 127.0.0.1 itself stays refused.
        return f"http://localhost:{self.port}/hooks"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                status = receiver.accept(headers, body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: connections are refused until ``start`` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accept(self, headers: dict[str, str], body: bytes) -> int:
        try:
            event = Webhook(self.secret).verify(body, headers)
            delivery = Delivery(headers, body, True, event, None, time.time())
        except WebhookVerificationError as exc:
            delivery = Delivery(headers, body, False, None, str(exc), time.time())
        with self._lock:
            self.deliveries.append(delivery)
        return self.status if delivery.verified else 401

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Verified events (first delivery of each webhook-id), optionally of one type."""
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        with self._lock:
            accepted = [d for d in self.deliveries if d.verified and d.event is not None]
        for delivery in accepted:
            assert delivery.event is not None
            message_id = delivery.headers["webhook-id"]
            if message_id in seen or (kind and delivery.event["type"] != kind):
                continue
            seen.add(message_id)
            out.append(delivery.event)
        return out

    def wait_for(self, check: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; got {len(self.deliveries)} requests")
