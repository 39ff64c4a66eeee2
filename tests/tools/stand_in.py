"""The downstream stand-in as a real process for the tool tests: stoppable, to take the
services down (connection refused), and restartable on the same port."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.processes import Process, wait_until


@dataclass
class DownstreamServer:
    """``llm-gateway downstream`` on a fixed port."""

    port: int
    log_path: Path
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "cli", "downstream", "--port", str(self.port)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = Process("downstream", argv, env, self.log_path).start()
        wait_until(
            lambda: httpx.get(f"{self.url}/health").status_code == 200, 20, "downstream stand-in"
        )

    def stop(self) -> None:
        """Kill it: calls now get connection refused."""
        if self.process is not None:
            self.process.kill(signal.SIGKILL)

    def running(self) -> bool:
        return self.process is not None and self.process.alive()
