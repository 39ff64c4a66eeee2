"""Start and stop real processes (redis-server, emulator, API, Celery workers) for tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from emulator.local_env import emulator_env

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: S110 - not up yet
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {seconds}s")


@dataclass
class Process:
    """A child process with its output in a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class RedisServer:
    port: int
    data_dir: Path
    log_path: Path
    process: Process | None = None
    # More redis-server options, e.g. ``("--replicaof", "127.0.0.1", "6379")``.
    extra_args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed (run .ci/run or apt-get install)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = Process(
            "redis",
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                *self.extra_args,
            ],
            dict(os.environ),
            self.log_path,
        ).start()
        wait_until(lambda: bool(redis.Redis.from_url(self.url).ping()), 10, "redis")
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()


@dataclass
class Stack:
    """The gateway running for real: Redis, emulator, API, workers."""

    tmp: Path
    redis: RedisServer
    env: dict[str, str]
    emulator_url: str = ""
    api_url: str = ""
    downstream_url: str = ""
    processes: dict[str, Process] = field(default_factory=dict)

    def spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> Process:
        process = Process(name, argv, {**self.env, **(extra_env or {})}, self.tmp / f"{name}.log")
        self.processes[name] = process.start()
        return process

    def start_emulator(self) -> None:
        port = free_port()
        self.emulator_url = f"http://127.0.0.1:{port}"
        # Every instance of config/providers.yaml goes to the emulator, with its throwaway
        # credentials; credentials the fixture set itself (the secrets the leak tests grep
        # for) win.
        for name, value in emulator_env(self.emulator_url, self.tmp / "credentials").items():
            if name.endswith(("_URL", "_ENDPOINT", "_HOST")):
                self.env[name] = value
            else:
                self.env.setdefault(name, value)
        self.spawn("emulator", [sys.executable, "-m", "cli", "emulator", "--port", str(port)])
        wait_until(
            lambda: httpx.get(f"{self.emulator_url}/_emulator/health").status_code == 200,
            20,
            "emulator",
        )

    def start_downstream(self) -> None:
        """The semantic-search / ai-agents stand-in; the tools reach it through the env.
        Call again after ``stop_downstream`` to bring it back on the same port."""
        if not self.downstream_url:
            self.downstream_url = f"http://127.0.0.1:{free_port()}"
            self.env["LLM_GATEWAY_SEMANTIC_SEARCH_URL"] = self.downstream_url
            self.env["LLM_GATEWAY_AI_AGENTS_URL"] = self.downstream_url
        port = self.downstream_url.rsplit(":", 1)[1]
        self.spawn("downstream", [sys.executable, "-m", "cli", "downstream", "--port", port])
        wait_until(
            lambda: httpx.get(f"{self.downstream_url}/health").status_code == 200,
            20,
            "downstream stand-in",
        )

    def stop_downstream(self) -> None:
        """Take the downstream services away: connections are refused until restarted."""
        process = self.processes.pop("downstream", None)
        if process is not None:
            process.kill()

    def start_api(self) -> None:
        self.api_url = self.start_extra_api("api")

    def start_extra_api(
        self, name: str, extra_env: dict[str, str] | None = None, ready_within: float = 30
    ) -> str:
        """Another API process on the same Redis (and so the same workers), with settings
        of its own; its URL once it answers (within ``ready_within`` seconds).
        ``stop_process(name)`` ends it."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        self.spawn(name, [sys.executable, "-m", "cli", "api", "--port", str(port)], extra_env)
        wait_until(lambda: httpx.get(f"{url}/health").status_code == 200, ready_within, name)
        return url

    def stop_process(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            process.stop()

    def start_worker(
        self,
        name: str,
        queues: str,
        concurrency: int = 16,
        extra_env: dict[str, str] | None = None,
    ) -> Process:
        process = self.spawn(
            name,
            [
                sys.executable,
                "-m",
                "cli",
                "worker",
                "--queues",
                queues,
                "--name",
                f"{name}@%h",
                "--concurrency",
                str(concurrency),
            ],
            extra_env,
        )
        client = redis.Redis.from_url(self.redis.url)
        wait_until(
            lambda: any(
                m.decode().startswith(f"{name}@") for m in client.zrange("llmgw:workers", 0, -1)
            ),
            60,
            f"worker {name}",
        )
        return process

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
