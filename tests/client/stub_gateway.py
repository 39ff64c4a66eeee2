"""A real HTTP server on 127.0.0.1 that answers canned responses per path: a stand-in for
a proxy in front of the gateway, or for a gateway that answers slowly."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# An answer writes the response itself (status, headers, body, at its own pace).
Answer = Callable[[BaseHTTPRequestHandler], None]


def canned(status: int, content_type: str, body: bytes) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


@contextmanager
def stub_gateway(answers: Mapping[str, Answer]) -> Iterator[str]:
    """Serve ``answers`` (by path, query ignored; others 404) for the block; its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            missing = canned(404, "text/plain", b"nothing here")
            answers.get(self.path.split("?")[0], missing)(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
