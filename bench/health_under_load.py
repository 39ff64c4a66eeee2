"""Does one kind of request stall the API? ``/health`` latency while 8 clients send the
heaviest allowed request in a closed loop, one request shape at a time.

    python bench/health_under_load.py                       # private Redis + API, all shapes
    python bench/health_under_load.py --source ../main      # the same API from another checkout
    python bench/health_under_load.py --shape tools --seconds 30
    python bench/health_under_load.py --api-url http://127.0.0.1:8080 --api-key dev-key \\
        --api-pid 12345                                     # a running API (pid: for its CPU)

The shapes are in ``bench/heavy_requests.py``. The target is ``/health`` p99 < 50 ms under
each allowed shape. See bench/README.md.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Annotated, Any

import httpx
import redis
import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from heavy_requests import SHAPES, Limits, body_for_client
from measure import percentile
from report import save, table, verdict
from stack import (
    PROJECT_ROOT,
    StackError,
    descendants,
    free_ports,
    interruptible,
    process_cpu_seconds,
)

HEALTH_P99_TARGET_MS = 50.0
API_KEY = "bench-key"

app = typer.Typer(add_completion=False, help=__doc__)


@dataclass(frozen=True, slots=True)
class Api:
    url: str
    key: str
    pid: int | None
    # The private stack's Redis: emptied after each shape of a --fresh run.
    redis_url: str | None = None


@dataclass(slots=True)
class ShapeResult:
    shape: str
    body_bytes: int
    seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    request_ms: list[float] = field(default_factory=list)
    health_ms: list[float] = field(default_factory=list)
    api_cpu_s: float | None = None
    # The load generator's own CPU: it shares the machine with the API.
    client_cpu_s: float = 0.0

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "body_bytes": self.body_bytes,
            "seconds": self.seconds,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "requests": self.answered,
            "request_p50_ms": percentile(self.request_ms, 50),
            "api_cpu_ms_per_request": self._cpu_per_request(),
            "api_core_pct": self._core_pct(),
            "bench_client_core_pct": 100 * self.client_cpu_s / self.seconds,
            "health": {
                "probes": len(self.health_ms),
                "p50_ms": percentile(self.health_ms, 50),
                "p99_ms": percentile(self.health_ms, 99),
                "max_ms": max(self.health_ms, default=float("nan")),
            },
        }

    def _cpu_per_request(self) -> float | None:
        if self.api_cpu_s is None or not self.answered:
            return None
        return 1000 * self.api_cpu_s / self.answered

    def _core_pct(self) -> float | None:
        return None if self.api_cpu_s is None else 100 * self.api_cpu_s / self.seconds


def _probe(url: str, interval_s: float, stop: Any, out: Connection) -> None:
    """In its own process, so the load generator's GIL does not delay the timing: GET
    /health back to back (``interval_s`` apart); sends "ready" after the first answer,
    then at the end every probe as (perf_counter at its start, latency in ms). A probe
    still waiting when told to stop is finished and counted: a stall is not cut short."""
    probes: list[tuple[float, float]] = []
    with httpx.Client(timeout=300) as client:
        client.get(f"{url}/health").raise_for_status()
        out.send("ready")
        while not stop.is_set():
            started = time.perf_counter()
            client.get(f"{url}/health").raise_for_status()
            probes.append((started, 1000 * (time.perf_counter() - started)))
            time.sleep(interval_s)
    out.send(probes)


class Prober:
    """The /health probe process around a measurement; ``within`` keeps the probes that
    started inside the measured window (perf_counter is system-wide on Linux)."""

    def __init__(self, url: str, interval_s: float = 0.01) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_probe, args=(url, interval_s, self._stop, sender), daemon=True
        )

    def __enter__(self) -> Prober:
        self._process.start()
        if self._receiver.recv() != "ready":
            raise StackError("the /health probe did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self._process.kill()

    def within(self, start: float, end: float) -> list[float]:
        self._stop.set()
        probes: list[tuple[float, float]] = self._receiver.recv()
        self._process.join(timeout=30)
        return [ms for began, ms in probes if start <= began <= end]


def _api_cpu_s(pid: int | None) -> float | None:
    """The API's CPU so far, its heavy-lane sibling's included (``api.heavy_lane``)."""
    if pid is None:
        return None
    total = 0.0
    for process in (pid, *descendants(pid)):
        with suppress(OSError):
            total += process_cpu_seconds(process)
    return total


def _client_loop(
    api: Api, body: bytes, until: float, measure_from: float, result: ShapeResult
) -> None:
    headers = {"Authorization": f"Bearer {api.key}", "content-type": "application/json"}
    with httpx.Client(base_url=api.url, headers=headers, timeout=120) as client:
        while (now := time.perf_counter()) < until:
            response = client.post("/v1/jobs", content=body)
            if now >= measure_from:
                result.statuses[response.status_code] += 1
                result.request_ms.append(1000 * (time.perf_counter() - now))


def run_shape(
    api: Api,
    name: str,
    limits: Limits,
    clients: int,
    warmup_s: float,
    seconds: float,
    fresh: bool = False,
) -> ShapeResult:
    """``clients`` closed loops of the shape's request; /health probed in the window."""
    shape = SHAPES[name](limits)
    run = f"{name}-{secrets.token_hex(4)}"
    bodies = [body_for_client(shape, i, None if fresh else run) for i in range(clients)]
    result = ShapeResult(name, len(bodies[0]), seconds)
    with Prober(api.url) as prober:
        start = time.perf_counter()
        measure_from, until = start + warmup_s, start + warmup_s + seconds
        threads = [
            threading.Thread(target=_client_loop, args=(api, body, until, measure_from, result))
            for body in bodies
        ]
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, measure_from - time.perf_counter()))
        cpu_before = _api_cpu_s(api.pid)
        client_before = time.process_time()
        time.sleep(max(0.0, until - time.perf_counter()))
        cpu_after = _api_cpu_s(api.pid)
        result.client_cpu_s = time.process_time() - client_before
        result.health_ms = prober.within(measure_from, until)
        for thread in threads:
            thread.join()
    if cpu_before is not None and cpu_after is not None:
        result.api_cpu_s = cpu_after - cpu_before
    if fresh and api.redis_url:
        with redis.Redis.from_url(api.redis_url) as client:
            client.flushdb()
    return result


def _idle(api: Api, seconds: float) -> ShapeResult:
    with Prober(api.url) as prober:
        start = time.perf_counter()
        time.sleep(seconds)
        return ShapeResult("idle", 0, seconds, health_ms=prober.within(start, start + seconds))


@contextmanager
def private_api(source: Path, extra_env: dict[str, str]) -> Iterator[Api]:
    """A redis-server and one API process (from ``source``'s code and venv), no workers:
    every repeat of a request is answered from its stored job, so nothing else needs the
    CPU the API is measured on."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise StackError("redis-server is not installed")
    python = source / ".venv" / "bin" / "python"
    api_port, redis_port = free_ports(2)
    state = Path(tempfile.mkdtemp(prefix="health-bench-"))
    log = (state / "stack.log").open("wb")
    env = {
        **os.environ,
        "LLM_GATEWAY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "LLM_GATEWAY_API_KEYS": f"bench:{API_KEY}",
        "LLM_GATEWAY_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    env.pop("LLM_GATEWAY_AUTH_DISABLED", None)
    env.pop("LLM_GATEWAY_PROVIDERS_FILE", None)
    redis_argv = [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1"]
    redis_argv += ["--save", "", "--appendonly", "no", "--dir", str(state)]
    api_argv = [str(python if python.exists() else sys.executable), "-m", "cli", "api"]
    processes = [
        subprocess.Popen(redis_argv, stdout=log, stderr=subprocess.STDOUT),
        subprocess.Popen(
            [*api_argv, "--port", str(api_port)],
            cwd=source,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
    ]
    url = f"http://127.0.0.1:{api_port}"
    try:
        _wait_healthy(url, processes[1], state / "stack.log")
        _wait_for_lane(url, processes[1].pid)
        yield Api(url, API_KEY, processes[1].pid, env["LLM_GATEWAY_REDIS_URL"])
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        shutil.rmtree(state, ignore_errors=True)


def _wait_for_lane(url: str, pid: int) -> None:
    """An API with a heavy lane sends large bodies to its sibling process once that is up
    (``api.heavy_lane``): measure from then on. One that starts no child within 10 s has
    none (``--source`` of a checkout before the lane, or the lane off)."""
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
    bad_body = b"{" + b" " * 300_000  # over the lane's threshold, parsed to a 400
    forwarded = 'llm_gateway_heavy_lane_requests_total{outcome="forwarded"}'
    while time.monotonic() - started < 60:
        if not descendants(pid):
            if time.monotonic() - started > 10:
                return
        else:
            httpx.post(f"{url}/v1/jobs", content=bad_body, headers=headers, timeout=30)
            if forwarded in httpx.get(f"{url}/metrics", timeout=30).text:
                return
        time.sleep(0.2)
    raise StackError("the API's heavy lane did not come up within 60 s")


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"the API exited\n{log.read_text(errors='replace')[-3000:]}")
        with suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise StackError("the API did not come up in 60 s")


def _row(result: ShapeResult) -> list[str]:
    data = result.as_dict()
    health = data["health"]
    statuses = ", ".join(f"{n} x {code}" for code, n in sorted(result.statuses.items())) or "-"
    cpu = data["api_cpu_ms_per_request"]
    core = data["api_core_pct"]
    met = result.shape != "idle" and health["p99_ms"] < HEALTH_P99_TARGET_MS
    return [
        result.shape,
        f"{result.body_bytes / 1024:.0f}",
        statuses,
        f"{result.answered / result.seconds:.1f}",
        f"{data['request_p50_ms']:.0f}" if result.request_ms else "-",
        "-" if cpu is None else f"{cpu:.1f}",
        "-" if core is None else f"{core:.0f} %",
        f"{data['bench_client_core_pct']:.0f} %" if result.shape != "idle" else "-",
        f"{health['p50_ms']:.1f}",
        f"{health['p99_ms']:.1f}",
        f"{health['max_ms']:.1f}",
        verdict(met) if result.shape != "idle" else "",
    ]


@app.command()
def main(
    shape: Annotated[
        list[str] | None, typer.Option(help=f"repeatable; default all: {', '.join(SHAPES)}")
    ] = None,
    clients: Annotated[int, typer.Option(min=1, help="closed-loop clients")] = 8,
    seconds: Annotated[float, typer.Option(help="measured seconds per shape")] = 15.0,
    warmup: Annotated[float, typer.Option(help="seconds of load before measuring")] = 3.0,
    source: Annotated[
        Path, typer.Option(help="checkout whose API (and .venv) a private stack runs")
    ] = PROJECT_ROOT,
    api_url: Annotated[str | None, typer.Option(help="use this running API instead")] = None,
    api_key: Annotated[str, typer.Option(help="API key for --api-url")] = "dev-key",
    api_pid: Annotated[int | None, typer.Option(help="--api-url's process, for its CPU")] = None,
    fresh: Annotated[
        bool,
        typer.Option(help="every request a new job (default: each client repeats its key)"),
    ] = False,
    setting: Annotated[
        list[str] | None,
        typer.Option(help="KEY=VALUE for the private API, e.g. LLM_GATEWAY_OFFLOAD_THREADS=2"),
    ] = None,
) -> None:
    """Probe /health idle, then under each shape; print a table, save JSON."""
    names = shape or list(SHAPES)
    unknown = set(names) - set(SHAPES)
    if unknown:
        raise typer.BadParameter(f"unknown shape(s): {', '.join(sorted(unknown))}")
    limits = Limits.defaults()
    env = dict(item.split("=", 1) for item in setting or [])
    with interruptible(), _target(api_url, api_key, api_pid, source.resolve(), env) as api:
        results = [_idle(api, 5.0)]
        for name in names:
            results.append(run_shape(api, name, limits, clients, warmup, seconds, fresh))
    columns: tuple[str, ...] = (
        *("shape", "body KB", "answers", "req/s", "req p50 ms", "API CPU ms/req"),
        *("API CPU", "client CPU", "/health p50", "p99", "max"),
        f"p99 < {HEALTH_P99_TARGET_MS:g} ms",
    )
    table(
        f"/health latency (ms) under {clients} clients per shape, {seconds:g} s each, "
        f"{'new jobs' if fresh else 'repeated keys'} "
        f"(API from {api_url or source.resolve()})",
        columns,
        [_row(r) for r in results],
    )
    save(
        "health_under_load",
        {
            "source": str(source),
            "fresh": fresh,
            "settings": env,
            "results": [r.as_dict() for r in results],
        },
    )


@contextmanager
def _target(
    url: str | None, key: str, pid: int | None, source: Path, env: dict[str, str]
) -> Iterator[Api]:
    if url:
        yield Api(url.rstrip("/"), key, pid)
        return
    with private_api(source, env) as api:
        yield api


if __name__ == "__main__":
    app()
