"""``LocalStack``: the whole gateway on one machine, as child processes, for ``up``."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx
import redis
from rich.console import Console

from cli.demo import run_demo
from cli.flower_login import flower_login
from cli.local_store import URL_VARIABLE, ensure_bucket, local_store_env, moto_server
from cli.origins import describe_origins, instance_origins
from cli.supervisor import StackError, Supervisor
from emulator.local_env import emulator_env_by_provider
from gateway.queues import TOOLS_QUEUE, WEBHOOKS_QUEUE
from gateway.settings import Settings
from providers.config import load_providers

DEV_API_KEY = "dev-key"


@dataclass(frozen=True, slots=True)
class StackPorts:
    api: int
    emulator: int
    flower: int
    downstream: int
    # moto's S3 server behind the storage route ``local`` (cli/local_store.py).
    storage: int = 8092


class LocalStack:
    """Starts the local processes and keeps them running (a child that dies is restarted,
    see ``Supervisor``); stops them all on Ctrl-C or SIGTERM."""

    def __init__(
        self,
        ports: StackPorts,
        emulator_latency_ms: int,
        state_dir: str,
        flower: bool = True,
        worker_concurrency: int | None = None,
        worker_processes: int = 1,
    ) -> None:
        self.ports = ports
        self.flower = flower
        self.worker_concurrency = worker_concurrency
        self.worker_processes = worker_processes
        self.latency_ms = emulator_latency_ms
        self.state_dir = Path(state_dir).resolve()
        self.console = Console(stderr=True)
        self.supervisor = Supervisor(self.console)
        # The local store starts unless the user points the route at one of their own.
        self.storage_command = None if os.environ.get(URL_VARIABLE) else moto_server()
        self.env = self._child_env()
        self.bucket_missing = False
        self.emulator_url = f"http://127.0.0.1:{self.ports.emulator}"
        configured = Settings().flower_basic_auth
        self.flower_login = (
            flower_login(self.state_dir, configured.get_secret_value() if configured else None)
            if flower
            else None
        )

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("LLM_GATEWAY_API_KEYS", f"local:{DEV_API_KEY}")
        env["LLM_GATEWAY_PORT"] = str(self.ports.api)
        env.setdefault("LLM_GATEWAY_LOG_JSON", "true")
        emulator = f"http://127.0.0.1:{self.ports.emulator}"
        # A provider goes to the emulator only if none of its variables is set: a real key
        # (or endpoint) the user set keeps that provider on the real service, whole.
        groups = emulator_env_by_provider(emulator, self.state_dir / "credentials")
        for variables in groups.values():
            if not any(env.get(name) for name in variables):
                env.update(variables)
        # The stand-in serves both tool services unless the user points them elsewhere.
        downstream = f"http://127.0.0.1:{self.ports.downstream}"
        env.setdefault("LLM_GATEWAY_SEMANTIC_SEARCH_URL", downstream)
        env.setdefault("LLM_GATEWAY_AI_AGENTS_URL", downstream)
        env.setdefault("LLM_GATEWAY_PUBLIC_URL", f"http://127.0.0.1:{self.ports.api}")
        # Local webhooks: a signing key for this state dir (so each tenant has a secret,
        # see GET /v1/webhooks/secret), and receivers on this machine may be called.
        if not env.get("LLM_GATEWAY_WEBHOOK_SECRETS"):
            env.setdefault("LLM_GATEWAY_WEBHOOK_SIGNING_KEY", self._local_signing_key())
        env.setdefault("LLM_GATEWAY_OUTBOUND_ALLOWLIST", "localhost,127.0.0.1")
        if self.storage_command:
            env.update(local_store_env(self.ports.storage))
        return env

    def _local_signing_key(self) -> str:
        """A random key kept in the state dir: secrets stay the same across restarts."""
        path = self.state_dir / "webhook-signing-key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def run(self, demo: bool, exit_after_demo: bool) -> int:
        # SIGTERM stops the stack like Ctrl-C; SIGINT is re-armed because a process started
        # from a non-interactive background job inherits it ignored.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)
        try:
            self._start_all()
            # Without --exit-after-demo a failed demo job is only a row of the table: the
            # stack stays up for a look at what went wrong.
            code = self._demo() if demo else 0
            if exit_after_demo:
                return code
            self.console.print("[bold green]stack running[/] — Ctrl-C to stop")
            while True:
                self.tick()
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
        except StackError as exc:
            self.console.print(f"[bold red]error:[/] {exc}")
            return 1
        finally:
            # A second Ctrl-C must not abandon the children half-way through stopping them.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            # The API first (no new jobs; in-flight sync requests end), Redis last, so it
            # outlives everything that talks to it.
            self.supervisor.stop(first={"api"}, last={"redis"})

    def _start_all(self) -> None:
        """Start every process and wait for each to answer; any exit meanwhile fails."""
        settings = Settings()
        self._ensure_redis(settings.redis_url)
        exe = [sys.executable, "-m", "cli"]
        self._spawn(
            "emulator",
            [
                *exe,
                "emulator",
                "--port",
                str(self.ports.emulator),
                "--latency-ms",
                str(self.latency_ms),
            ],
        )
        self._wait_http("emulator", f"http://127.0.0.1:{self.ports.emulator}/_emulator/health")
        self._spawn("downstream", [*exe, "downstream", "--port", str(self.ports.downstream)])
        self._wait_http("downstream", f"http://127.0.0.1:{self.ports.downstream}/health")
        self.start_storage()
        self._spawn("api", [*exe, "api", "--port", str(self.ports.api)])
        self._wait_http("api", f"http://127.0.0.1:{self.ports.api}/health")
        providers = load_providers(settings.providers_file, self.env)
        queues = {inst.name: inst.queue for inst in providers.instances.values()}
        queues["tools"] = TOOLS_QUEUE
        queues["webhooks"] = WEBHOOKS_QUEUE
        # With LLM_GATEWAY_WORKER_METRICS_PORT set, each worker gets a port of its own: that
        # port, then +1, +2, ... in the order started (docs/observability.md).
        slot = 0
        for name, queue in queues.items():
            for index in range(self.worker_processes):
                self._spawn_worker(name, queue, index, settings, slot)
                slot += 1
        self._wait_workers(f"http://127.0.0.1:{self.ports.api}/health/ready", 60)
        if self.flower_login:  # after the workers, so its first inspection finds them
            self._spawn_flower(self.flower_login.login)
        self.console.print(
            f"API      http://127.0.0.1:{self.ports.api}  (key: see LLM_GATEWAY_API_KEYS; "
            f"default tenant 'local', key '{DEV_API_KEY}')\n"
            + (
                f"Flower   http://127.0.0.1:{self.ports.flower}  "
                f"({self.flower_login.describe(terminal=self.console.is_terminal)})\n"
                if self.flower_login
                else ""
            )
            + f"Emulator http://127.0.0.1:{self.ports.emulator}\n"
            + f"Tools    http://127.0.0.1:{self.ports.downstream}  (semantic-search and "
            "ai-agents stand-in)\n"
            + f"Storage  {self.env.get(URL_VARIABLE, 'not configured')}  (route 'local', "
            + ("moto's S3 server, bucket 'rag-docs')" if self.storage_command else "your own)")
        )
        # A key left in the shell keeps its provider real: say so, before any demo job.
        origins = instance_origins(providers, self.emulator_url)
        self.console.print(describe_origins(providers, origins), highlight=False)

    def start_storage(self) -> None:
        """moto's S3 server and its ``rag-docs`` bucket, when ``up`` runs the store."""
        if self.storage_command is None:
            if not os.environ.get(URL_VARIABLE):
                self.console.print(
                    "[yellow]storage: moto_server is not installed; the route 'local' has "
                    f"no store (set {URL_VARIABLE} or install the dev dependencies)[/]"
                )
            return
        argv = [self.storage_command, "-H", "127.0.0.1", "-p", str(self.ports.storage)]
        self._spawn("storage", argv)
        self._wait_http("storage", self.env[URL_VARIABLE])
        try:
            ensure_bucket(self.env)
        except RuntimeError as exc:
            raise StackError(str(exc)) from exc

    def tick(self) -> None:
        """Supervise; a restarted store comes back empty, so its bucket is made again as
        soon as it answers."""
        restarted = self.supervisor.tick()
        self.bucket_missing |= "storage" in restarted
        if self.bucket_missing:
            try:
                ensure_bucket(self.env)
                self.bucket_missing = False
                self.console.print("storage: bucket 'rag-docs' made again after the restart")
            except RuntimeError:
                pass  # not listening yet: the next tick tries again

    def _spawn_worker(
        self, name: str, queue: str, index: int, settings: Settings, slot: int
    ) -> None:
        node = f"{name}-{index}@%h" if index else f"{name}@%h"
        concurrency = self.worker_concurrency or settings.worker_concurrency
        port = settings.worker_metrics_port
        metrics = {"LLM_GATEWAY_WORKER_METRICS_PORT": str(port + slot)} if port else {}
        self._spawn(
            f"worker {queue} #{index}",
            [sys.executable, "-m", "cli", "worker", "--queues", queue, "--name", node,
             "--concurrency", str(concurrency)],
            metrics,
        )  # fmt: skip

    def _spawn_flower(self, login: str) -> None:
        self._spawn(
            "flower",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers",
                "flower",
                f"--port={self.ports.flower}",
                "--address=127.0.0.1",
            ],
            extra_env={"FLOWER_BASIC_AUTH": login},
        )

    def _ensure_redis(self, url: str) -> None:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            self.console.print(f"redis    {url} (already running)")
            return
        except redis.RedisError:
            pass
        server = shutil.which("redis-server")
        if server is None:
            raise StackError("no Redis answers and redis-server is not installed")
        parsed = urlparse(url)
        data_dir = self.state_dir / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._spawn(
            "redis",
            [
                server,
                "--bind",
                parsed.hostname or "127.0.0.1",
                "--port",
                str(parsed.port or 6379),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--dir",
                str(data_dir),
                "--save",
                "",
                # A finished small job's hash stays a listpack: ~830 bytes of bookkeeping a
                # job instead of ~1,760 (docs/benchmarks.md, "Redis bytes per job").
                "--hash-max-listpack-value",
                "1024",
            ],
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(url, socket_connect_timeout=1).ping()
                self.console.print(f"redis    {url} (started, AOF in {data_dir})")
                return
            except redis.RedisError:
                time.sleep(0.1)
        raise StackError("redis-server did not start")

    def _spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> None:
        child = self.supervisor.spawn(name, argv, {**self.env, **(extra_env or {})})
        self.console.print(f"started  {name} (pid {child.proc.pid})", highlight=False)

    def _wait_workers(self, url: str, seconds: float) -> None:
        """Until ``/health/ready`` counts a live worker (it is ready without one)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.supervisor.check_running()
            try:
                response = httpx.get(url, timeout=1)
                if response.status_code == 200 and response.json()["workers"] > 0:
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        raise StackError(f"no worker became ready (see {url})")

    def _wait_http(self, name: str, url: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.supervisor.check_running()
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise StackError(f"{name} did not become ready at {url}")

    def _demo(self) -> int:
        key = self.env["LLM_GATEWAY_API_KEYS"].split(",")[0].partition(":")[2]
        providers = load_providers(Settings().providers_file, self.env)
        return run_demo(
            f"http://127.0.0.1:{self.ports.api}",
            key,
            providers,
            instance_origins(providers, self.emulator_url),
            self.console,
            on_wait=self.tick,
            rag=bool(self.env.get(URL_VARIABLE)),
        )


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
