"""What ``LLM_GATEWAY_REDIS_WAIT_REPLICAS=1`` costs a submit: ``POST /v1/jobs`` latency and
accept rate with and without the ``WAIT`` for one replica (docs/redis-failover.md).

Starts a Redis master (AOF, ``appendfsync everysec`` as in prod) with one replica, and two
API processes on it, one with ``WAIT_REPLICAS=0`` and one with ``1`` (no workers: the jobs
stay parked in their queue). Each round sends ``--requests`` submits to each API in turn,
one at a time (the latency a caller sees) and from ``--clients`` threads at once (closed
loop: the accept rate); rounds alternate so that the shared machine's load hits both alike.
A last table times the Redis part alone on one connection: a write, and a write followed
by ``WAIT 1`` (what the wait itself costs, without the API's share).

    .venv/bin/python bench/replica_wait_bench.py [--requests 300] [--clients 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis

# bench/ is a directory of scripts that import each other as top-level modules (see
# gateway_bench.py); this makes that work under ``python -m bench.replica_wait_bench`` too.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import summary_ms
from report import table
from stack import free_ports

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
JOB = {
    "type": "completion",
    "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "bench"}]},
}
MODES = {"no WAIT (0)": "0", "WAIT 1 replica": "1"}


def wait_for(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {seconds:g}s")


@contextmanager
def master_replica_and_apis() -> Iterator[tuple[dict[str, str], int]]:
    """(mode → API URL, master port), on one master with one replica; everything stopped
    afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="replica-wait-bench-"))
    master_port, replica_port, *api_ports = free_ports(2 + len(MODES))
    server = shutil.which("redis-server") or "redis-server"
    log = (scratch / "processes.log").open("wb")
    children: list[subprocess.Popen[bytes]] = []

    def spawn(argv: list[str], env: dict[str, str] | None = None) -> None:
        children.append(
            subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        )

    try:
        for port, role, extra in (
            (master_port, "master", []),
            (replica_port, "replica", ["--replicaof", "127.0.0.1", str(master_port)]),
        ):
            data = scratch / role
            data.mkdir()
            spawn([server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
                   "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                   *extra])  # fmt: skip
        replica = redis.Redis(port=replica_port)
        deadline = time.monotonic() + 20
        while True:
            try:
                if replica.info("replication")["master_link_status"] == "up":
                    break
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not sync")
            time.sleep(0.1)
        urls: dict[str, str] = {}
        for (mode, replicas), port in zip(MODES.items(), api_ports, strict=True):
            env = {
                **os.environ,
                "LLM_GATEWAY_REDIS_URL": f"redis://127.0.0.1:{master_port}/0",
                "LLM_GATEWAY_API_KEYS": f"bench:{KEY}",
                "LLM_GATEWAY_LOG_LEVEL": "WARNING",
                "LLM_GATEWAY_REDIS_WAIT_REPLICAS": replicas,
                "OPENAI_API_KEY": "sk-bench-unused",
            }
            spawn([sys.executable, "-m", "cli", "api", "--port", str(port)], env)
            urls[mode] = f"http://127.0.0.1:{port}"
        for url in urls.values():
            wait_for(f"{url}/health")
        yield urls, master_port
    finally:
        for child in reversed(children):
            child.terminate()
            child.wait(timeout=30)
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)


def submit_all(url: str, requests: int, clients: int) -> tuple[list[float], float, int]:
    """(latencies, wall seconds, non-202 answers) of ``requests`` submits from ``clients``
    threads, each sending its next when the last is answered."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    left = [requests]

    def client_loop() -> None:
        nonlocal failures
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        ) as client:
            while True:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                started = time.perf_counter()
                status = client.post("/v1/jobs", json=JOB).status_code
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    failures += status != 202

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="submits per mode and round")
    parser.add_argument("--clients", type=int, default=16, help="threads of the rate phase")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with master_replica_and_apis() as (urls, master_port):
        for url in urls.values():  # warm-up: connections, scripts loaded
            submit_all(url, 50, 4)
        shapes = (("one at a time", 1), (f"{args.clients} clients", args.clients))
        samples: dict[tuple[str, str], list[float]] = {}
        walls: dict[tuple[str, str], float] = {}
        failed: dict[tuple[str, str], int] = {}
        for _ in range(args.rounds):
            for shape, clients in shapes:
                for mode, url in urls.items():
                    latencies, wall, failures = submit_all(url, args.requests, clients)
                    samples.setdefault((shape, mode), []).extend(latencies)
                    walls[(shape, mode)] = walls.get((shape, mode), 0.0) + wall
                    failed[(shape, mode)] = failed.get((shape, mode), 0) + failures
        rows = []
        for shape, _ in shapes:
            for mode in urls:
                ms = summary_ms(samples[(shape, mode)])
                count = len(samples[(shape, mode)])
                rows.append(
                    [shape, mode, str(count), f"{ms['p50']:.2f}", f"{ms['p90']:.2f}",
                     f"{ms['p99']:.2f}", f"{count / walls[(shape, mode)]:.0f}",
                     str(failed[(shape, mode)])]
                )  # fmt: skip
        table(
            "POST /v1/jobs with and without WAIT for one replica (local master + replica)",
            ["load", "mode", "submits", "p50 ms", "p90 ms", "p99 ms", "accepts/s", "non-202"],
            rows,
            left=2,
        )
        redis_rows = []
        for label, seconds in redis_alone(master_port, args.requests * args.rounds).items():
            ms = summary_ms(seconds)
            redis_rows.append(
                [label, str(len(seconds)), f"{ms['p50']:.3f}", f"{ms['p90']:.3f}",
                 f"{ms['p99']:.3f}"]
            )  # fmt: skip
        table(
            "The Redis part alone, one connection",
            ["commands", "samples", "p50 ms", "p90 ms", "p99 ms"],
            redis_rows,
        )


def redis_alone(port: int, samples: int) -> dict[str, list[float]]:
    """Seconds of a write, and of a write plus ``WAIT 1``, alternating."""
    out: dict[str, list[float]] = {"SET": [], "SET + WAIT 1": []}
    with redis.Redis(port=port, single_connection_client=True) as client:
        for i in range(samples):
            started = time.perf_counter()
            client.set("bench:wait", i)
            out["SET"].append(time.perf_counter() - started)
            started = time.perf_counter()
            client.set("bench:wait", i)
            client.wait(1, 1000)
            out["SET + WAIT 1"].append(time.perf_counter() - started)
    return out


if __name__ == "__main__":
    main()
