"""``LaneSibling``: the second API process behind the heavy lane (``api.heavy_lane``).

The same app, served by ``llm-gateway api --uds`` on a Unix socket in a private (0700)
directory, with the lane off in its environment. The API starts it in its lifespan, waits
for its ``/health`` in the background (heavy requests stay in-process until then), restarts
it with backoff when it dies, and stops it at shutdown. The kernel kills it if the API dies
first (``gateway.parent_death``), so a SIGKILLed API does not leave it behind.

Both processes write their HTTP metrics into the same ``PROMETHEUS_MULTIPROC_DIR`` (the
sibling inherits it), so ``/metrics`` counts the requests the sibling served; without that
directory the lane stays off (``llm-gateway api`` makes one when the lane is on).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
import structlog

from api.metrics import MULTIPROC_DIR_VARIABLE, ApiMetrics
from gateway.parent_death import die_with_parent
from gateway.settings import Settings

log = structlog.get_logger(__name__)

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
# A sibling that stayed up this long before it died was a one-off, not a crash loop: the
# next restart waits the first backoff again.
STABLE_SECONDS = 60.0
READY_WITHIN_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
SIBLING_NICENESS = 10
_SETTING_VARIABLE = "LLM_GATEWAY_HEAVY_LANE_BODY_BYTES"


def _child_setup(parent: int) -> Callable[[], None]:
    die_with_api = die_with_parent(parent)

    def setup() -> None:  # in the child, between fork and exec
        die_with_api()
        # When the CPUs are busy, the kernel runs the API before its sibling: the lane is
        # for work that may wait, ``/health`` and small requests are not.
        os.setpriority(os.PRIO_PROCESS, 0, SIBLING_NICENESS)

    return setup


class LaneSibling:
    """The sibling process and the one HTTP client that talks to it over its socket."""

    def __init__(self, threshold_bytes: int, metrics: ApiMetrics) -> None:
        self.threshold_bytes = threshold_bytes
        self.metrics = metrics
        # ``mkdtemp`` makes the directory 0700: only this user can reach the socket, which
        # is why the sibling may trust the forwarded client address (``api.heavy_lane``).
        self._directory = Path(tempfile.mkdtemp(prefix="llm-gateway-lane-"))
        self.socket_path = self._directory / "api.sock"
        # A connection per request (a local connect is ~0.1 ms): a kept-alive one can be
        # closed by the sibling (its idle timeout) just as a request goes out on it, and a
        # request lost that way could not be told from one it had taken (a 503). A fresh
        # one fails at connect, safely, when the sibling is gone.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        self.client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(self.socket_path), limits=limits),
            # No read timeout: a streamed chat completion or a sync wait lasts as long as
            # it lasts, as it would in-process. Connecting to a local socket is immediate.
            timeout=httpx.Timeout(None, connect=5.0, pool=5.0),
        )
        self.ready = False
        self.pid: int | None = None
        self.restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def start(cls, settings: Settings, metrics: ApiMetrics) -> LaneSibling | None:
        """The running sibling's handle, or None when the lane is off."""
        if settings.heavy_lane_body_bytes == 0:
            return None
        if not os.environ.get(MULTIPROC_DIR_VARIABLE):
            log.warning(
                "heavy_lane_off",
                reason=f"{MULTIPROC_DIR_VARIABLE} is not set: the sibling's metrics would "
                "not be counted (start the API with `llm-gateway api`)",
            )
            return None
        sibling = cls(settings.heavy_lane_body_bytes, metrics)
        sibling._task = asyncio.create_task(sibling._keep_running(), name="heavy-lane-sibling")
        return sibling

    async def _keep_running(self) -> None:
        loop = asyncio.get_running_loop()
        backoffs = 0
        while True:
            started = loop.time()
            process = await self._spawn()
            if await self._wait_ready(process):
                self.ready = True
                log.info("heavy_lane_ready", pid=process.pid)
            code = await process.wait()
            self.ready = False
            self.metrics.process_gone(process.pid)
            if loop.time() - started >= STABLE_SECONDS:
                backoffs = 0
            delay = min(FIRST_BACKOFF_SECONDS * 2**backoffs, MAX_BACKOFF_SECONDS)
            backoffs += 1
            self.restarts += 1
            log.warning("heavy_lane_sibling_exited", pid=process.pid, code=code, restart_in=delay)
            await asyncio.sleep(delay)

    async def _spawn(self) -> asyncio.subprocess.Process:
        self.socket_path.unlink(missing_ok=True)  # a killed sibling leaves its socket
        env = {**os.environ, _SETTING_VARIABLE: "0"}
        argv = [sys.executable, "-m", "cli", "api", "--uds", str(self.socket_path)]
        # Forked from the event loop's thread, which lives as long as the API: the death
        # signal is tied to the forking thread. Its own session: a Ctrl-C meant for the
        # API reaches the API only, which then stops the sibling itself.
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, start_new_session=True, preexec_fn=_child_setup(os.getpid())
        )
        self._process, self.pid = process, process.pid
        return process

    async def _wait_ready(self, process: asyncio.subprocess.Process) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_WITHIN_SECONDS
        while process.returncode is None and loop.time() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if (await self.client.get("http://lane/health")).status_code == 200:
                    return True
            await asyncio.sleep(0.1)
        if process.returncode is None:  # hung at start-up: start afresh
            log.warning("heavy_lane_not_ready", pid=process.pid, seconds=READY_WITHIN_SECONDS)
            process.kill()
        return False

    async def close(self) -> None:
        """Stop the sibling (SIGTERM, then SIGKILL after the grace period) and clean up."""
        self.ready = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()
        await self.client.aclose()
        shutil.rmtree(self._directory, ignore_errors=True)
