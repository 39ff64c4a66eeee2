"""Running the emulator: blocking :func:`serve` and in-process :func:`running_server`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from emulator.app import create_app


def serve(host: str = "127.0.0.1", port: int = 8090, latency_ms: int = 0) -> None:
    """Serve the emulator until interrupted (access log off, log level warning)."""
    uvicorn.run(
        create_app(latency_ms),
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
        lifespan="off",
    )


@contextmanager
def running_server(
    latency_ms: int = 0, host: str = "127.0.0.1", startup_timeout: float = 10.0
) -> Iterator[str]:
    """Run an emulator in a background thread on a free port; yields its base URL.

    The listening socket is bound before the server starts, so there is no
    race for the port. Used by test fixtures::

        with running_server() as url:
            client = openai.OpenAI(base_url=url + "/v1", api_key="x")
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(latency_ms), access_log=False, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    # uvicorn only installs signal handlers on the main thread, so a thread is safe.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="emulator", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("emulator server failed to start")
            time.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=startup_timeout)
        sock.close()
