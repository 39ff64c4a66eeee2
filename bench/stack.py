"""A private gateway stack for one benchmark run, or a handle on one that is already running.

The bench starts ``llm-gateway up`` with its own free ports, its own Redis (a free port in
``LLM_GATEWAY_REDIS_URL``, so ``up`` starts a fresh redis-server instead of reusing a shared
one) and a temporary state dir, and always stops it again: on success, on error, on Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Annotated

import httpx
import typer
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BENCH_API_KEY = "bench-key"
STOP_TIMEOUT_S = 90.0


@dataclass(frozen=True, slots=True)
class Target:
    """Where the benchmark sends requests."""

    api_url: str
    emulator_url: str
    api_key: str
    # ``llm-gateway up`` when the bench started the stack: its processes' CPU is measurable.
    root_pid: int | None = None
    # The tools' stand-in (semantic-search, ai-agents), when the bench started the stack.
    downstream_url: str = ""
    # The stack's Redis, when the bench started the stack (a bench that reads it directly).
    redis_url: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


SHIPPED_PROVIDERS = PROJECT_ROOT / "config" / "providers.yaml"


# Far above what two cores can send, so the limiter checks them (same work per call) but
# never holds a call.
BENCH_RPM = 1_000_000
BENCH_TPM = 1_000_000_000


def write_limits_out_of_reach(source: Path, dest: Path) -> None:
    """``source``'s providers with their rpm and tpm limits raised out of reach (where set;
    concurrency kept).

    The shipped file's limits stand for a provider account's: OpenAI's 5,000 rpm is what a
    200 req/s run uses up in 25 s, after which the limiter rightly holds calls for up to a
    minute, and a bench of the gateway's own cost would measure the account instead."""
    document = yaml.safe_load(source.read_text())
    for instance in (document.get("instances") or {}).values():
        limits = instance.get("limits") or {}
        if limits.get("rpm"):
            limits["rpm"] = BENCH_RPM
        if limits.get("tpm"):
            limits["tpm"] = BENCH_TPM
    dest.write_text(yaml.safe_dump(document, sort_keys=False))


class StackError(RuntimeError):
    """The stack did not come up (the message carries the tail of its log)."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports. All sockets stay bound until every port is picked,
    so the kernel cannot hand out the same port twice."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def emulator_latency(target: Target, latency_ms: int | None = None) -> int:
    """Set the emulator's server-wide latency (when given); returns the value now in force."""
    url = f"{target.emulator_url}/_emulator/config"
    if latency_ms is None:
        response = httpx.get(url, timeout=10)
    else:
        response = httpx.post(url, json={"latency_ms": latency_ms}, timeout=10)
    response.raise_for_status()
    return int(response.json()["latency_ms"])


def clear_emulator_records(target: Target) -> None:
    """Drop the emulator's request log, so a long phase doesn't carry the last one's."""
    httpx.delete(f"{target.emulator_url}/_emulator/requests", timeout=10).raise_for_status()


@contextmanager
def bench_target(
    api_url: str | None,
    emulator_url: str | None,
    api_key: str,
    worker_concurrency: int,
    keep_state: bool = False,
    worker_processes: int = 1,
    downstream_url: str | None = None,
) -> Iterator[Target]:
    """A running stack: the one at ``api_url``/``emulator_url`` (and the tools' stand-in at
    ``downstream_url``) if given, else a fresh one."""
    if api_url or emulator_url:
        if not (api_url and emulator_url):
            raise StackError("--api-url and --emulator-url go together")
        downstream = (downstream_url or "").rstrip("/")
        yield Target(api_url.rstrip("/"), emulator_url.rstrip("/"), api_key, None, downstream)
        return
    stack = BenchStack(worker_concurrency, keep_state=keep_state, worker_processes=worker_processes)
    try:
        yield stack.start()
    finally:
        stack.stop()


@dataclass(frozen=True, slots=True)
class StackOptions:
    """A bench CLI's stack options: a running stack's URLs, or how to start a private one."""

    api_url: str | None
    emulator_url: str | None
    api_key: str
    worker_concurrency: int
    keep_state: bool
    worker_processes: int
    downstream_url: str | None = None


@contextmanager
def running_target(opts: StackOptions) -> Iterator[Target]:
    """``bench_target`` for a CLI; someone else's stack gets its emulator latency back."""
    with bench_target(
        opts.api_url,
        opts.emulator_url,
        opts.api_key,
        opts.worker_concurrency,
        opts.keep_state,
        opts.worker_processes,
        opts.downstream_url,
    ) as target:
        original = emulator_latency(target)
        try:
            yield target
        finally:
            if opts.api_url:  # someone else's stack: leave it as we found it
                emulator_latency(target, original)


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM (a CI timeout, kill) runs the same cleanup as Ctrl-C; a stack that does not
    come up is an error message, not a traceback."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    except StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted; stopped", err=True)
        raise typer.Exit(130) from None


class BenchStack:
    """``llm-gateway up`` as a child process in its own session.

    Its own session means a Ctrl-C in the terminal reaches only the bench, which then stops
    the stack in order (SIGTERM → ``up`` stops its children newest first) instead of every
    process dying at once mid-request."""

    def __init__(
        self, worker_concurrency: int, keep_state: bool = False, worker_processes: int = 1
    ) -> None:
        self.worker_concurrency = worker_concurrency
        self.worker_processes = worker_processes
        self.keep_state = keep_state
        self.state_dir = Path(tempfile.mkdtemp(prefix="llm-gateway-bench-"))
        self.log_path = self.state_dir / "stack.log"
        self._log: IO[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        # The shipped instances, without the example account limits (a subclass that tests
        # limits writes its own file and points the stack at it).
        self.providers_file = self.state_dir / "providers.yaml"
        write_limits_out_of_reach(SHIPPED_PROVIDERS, self.providers_file)

    def start(self, ready_timeout_s: float = 120.0) -> Target:
        # Every port free, the local S3 store's too: a fixed one clashes with any other stack
        # on the machine (a test run, another bench), and ``up`` then fails to start.
        api, emulator, redis, downstream, storage = free_ports(5)
        target = Target(
            f"http://127.0.0.1:{api}",
            f"http://127.0.0.1:{emulator}",
            BENCH_API_KEY,
            downstream_url=f"http://127.0.0.1:{downstream}",
        )
        argv = [
            _gateway_command(),
            "up",
            "--no-demo",
            "--no-flower",
            f"--port={api}",
            f"--emulator-port={emulator}",
            f"--downstream-port={downstream}",
            f"--storage-port={storage}",
            "--emulator-latency-ms=0",
            f"--worker-concurrency={self.worker_concurrency}",
            f"--worker-processes={self.worker_processes}",
            f"--state-dir={self.state_dir}",
        ]
        self._log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            env=self._env(target, redis),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready(target, ready_timeout_s)
        started = replace(target, root_pid=self._proc.pid, redis_url=f"redis://127.0.0.1:{redis}/0")
        _wait_settled(started)
        return started

    def _env(self, target: Target, redis_port: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            LLM_GATEWAY_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            # Per-request INFO logs would measure the logger, not the gateway.
            LLM_GATEWAY_LOG_LEVEL="WARNING",
            LLM_GATEWAY_PROVIDERS_FILE=str(self.providers_file),
            LLM_GATEWAY_API_KEYS=f"bench:{target.api_key}",
            # Explicit, not inherited: a shell pointed at a real provider must not be benched
            # (up only fills these in when they are unset).
            OPENAI_BASE_URL=f"{target.emulator_url}/v1",
            ANTHROPIC_BASE_URL=target.emulator_url,
            LLM_GATEWAY_SEMANTIC_SEARCH_URL=target.downstream_url,
            LLM_GATEWAY_AI_AGENTS_URL=target.downstream_url,
            OPENAI_API_KEY="bench-not-a-secret",
            ANTHROPIC_API_KEY="bench-not-a-secret",
        )
        env.pop("LLM_GATEWAY_AUTH_DISABLED", None)
        return env

    def _wait_ready(self, target: Target, timeout_s: float) -> None:
        """Ready means every provider queue has a live worker, not just one (what
        ``/health/ready`` answers 200 for): the latency phase uses both queues."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise StackError(f"llm-gateway up exited ({self._proc.returncode})\n{self._tail()}")
            try:
                response = httpx.get(f"{target.api_url}/health/ready", timeout=2)
                queues = response.json().get("queues", {}) if response.status_code == 200 else {}
                if queues and all(queues.values()):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.25)
        raise StackError(f"stack not ready after {timeout_s:g}s\n{self._tail()}")

    def _tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM and wait (``up`` stops its own children); SIGKILL what is left on timeout.
        Safe to call twice; ignores a second Ctrl-C so the cleanup itself finishes."""
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self._stop_process()
        finally:
            signal.signal(signal.SIGINT, previous)
            if self._log is not None:
                self._log.close()
                self._log = None
            if self.keep_state:
                print(f"stack state and log kept in {self.state_dir}", file=sys.stderr)
            else:
                shutil.rmtree(self.state_dir, ignore_errors=True)

    def _stop_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        # Collected before signalling: once ``up`` is gone its children are re-parented and
        # could no longer be told apart from anyone else's processes.
        below = descendants(proc.pid)
        # Not SIGINT: a child started from a background job of a non-interactive shell
        # inherits SIGINT as ignored, while ``up`` always installs its SIGTERM handler.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            pass
        print("stack did not stop in time; killing its processes", file=sys.stderr)
        for pid in [*below, proc.pid]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


def _gateway_command() -> str:
    """The ``llm-gateway`` script of the interpreter running the bench (the project venv)."""
    beside = Path(sys.executable).with_name("llm-gateway")
    found = str(beside) if beside.exists() else shutil.which("llm-gateway")
    if found is None:
        raise StackError("llm-gateway is not installed; activate the project venv")
    return found


def descendants(root: int) -> list[int]:
    """Process ids below ``root``, from /proc (Linux). ``up`` starts each child in its own
    session, so a process-group kill of ``up`` alone would miss them."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent pid; the command name (field 2) may contain spaces or ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


# A settled stack's processes together use less CPU than this (an idle default stack:
# ~0.07 s a second); start-up work (the API's heavy-lane sibling importing the app, ~3 s of
# CPU after /health answers) is well above it.
_SETTLED_CPU_PER_SECOND = 0.3


def _wait_settled(target: Target, timeout_s: float = 60.0) -> None:
    """Wait until the started stack is done starting: ready is not idle (the API's
    heavy-lane sibling starts after the API answers), and start-up CPU would otherwise land
    in the first measurements and compete with them."""
    deadline = time.monotonic() + timeout_s

    def stack_cpu() -> float:
        usage = cpu_seconds(target)
        usage.pop("bench client", None)
        return sum(usage.values())

    before = stack_cpu()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = stack_cpu()
        if now - before < _SETTLED_CPU_PER_SECOND:
            return
        before = now
    print(f"stack still busy after {timeout_s:g}s; measuring anyway", file=sys.stderr)


def cpu_seconds(target: Target) -> dict[str, float]:
    """CPU time (user + system) so far of each process of a started stack, by role, plus
    the bench itself; empty for a stack the bench did not start. On a 2-core machine the
    load generator competes with the gateway, so its share is part of the result."""
    usage: dict[str, float] = {"bench client": time.process_time()}
    if target.root_pid is None:
        return usage
    for pid in descendants(target.root_pid):
        try:
            cpu = process_cpu_seconds(pid)
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        role = _role([arg.decode(errors="replace") for arg in argv])
        usage[role] = usage.get(role, 0.0) + cpu
    return usage


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) so far of one process, from /proc (Linux); OSError if gone."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 14 and 15 (utime, stime) are at 11 and 12 after the ")".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _role(argv: list[str]) -> str:
    """A short name for a stack process from its command line."""
    for flag in ("-Q", "--queues"):
        if flag in argv:
            return f"worker {argv[argv.index(flag) + 1]}"
    for role in ("api", "emulator", "downstream", "flower"):
        if role in argv:
            return role
    # redis-server rewrites its command line to "/usr/bin/redis-server 127.0.0.1:PORT".
    return Path(argv[0].split(" ")[0]).name or "?"


def nearest_rank(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0-1) of ``values``; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def open_stack(ctx: typer.Context) -> Iterator[Target]:
    """The target of a bench command: the callback's stack, started for this run."""
    with interruptible(), running_target(ctx.obj) as target:
        yield target


def stack_callback(
    ctx: typer.Context,
    api_url: Annotated[str | None, typer.Option(help="use this running API")] = None,
    emulator_url: Annotated[str | None, typer.Option(help="and its emulator")] = None,
    api_key: Annotated[str, typer.Option(help="API key for --api-url")] = "dev-key",
    worker_concurrency: Annotated[int, typer.Option(help="worker threads per queue")] = 128,
) -> None:
    """Starts a private stack per run unless --api-url/--emulator-url point at one."""
    ctx.obj = StackOptions(api_url, emulator_url, api_key, worker_concurrency, False, 1)
