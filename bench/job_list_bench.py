"""What one page of ``GET /v1/jobs`` costs when the jobs are big: bytes sent to the client,
bytes Redis sent to the API, and the API's time, for the default summaries and with
``expand=request``.

Starts its own redis-server and API (no workers: the jobs stay parked in their queue, as
they do when no worker serves a model), submits ``--jobs`` jobs of ``--kb`` KB of prompt
each, then reads the newest 100 a few times. ``--api-root`` runs the API from another
checkout (e.g. the code before summaries) for a before/after comparison.

    .venv/bin/python bench/job_list_bench.py [--jobs 60] [--kb 900] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float = 30) -> None:
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
def redis_and_api(api_root: Path, max_body: int) -> Iterator[tuple[str, str]]:
    """(API URL, Redis URL) of a fresh redis-server and API, stopped afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="job-list-bench-"))
    redis_port, api_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    server = shutil.which("redis-server") or "redis-server"
    env = {
        **os.environ,
        "LLM_GATEWAY_REDIS_URL": redis_url,
        "LLM_GATEWAY_API_KEYS": f"bench:{KEY}",
        "LLM_GATEWAY_MAX_BODY_BYTES": str(max_body),
        "LLM_GATEWAY_LOG_LEVEL": "WARNING",
        "OPENAI_API_KEY": "sk-bench-unused",
    }
    log = (scratch / "processes.log").open("wb")
    children = [
        subprocess.Popen(
            [server, "--port", str(redis_port), "--save", "", "--dir", str(scratch)],
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "cli", "api", "--port", str(api_port)],
            cwd=api_root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        api_url = f"http://127.0.0.1:{api_port}"
        wait_for(f"{api_url}/health")
        yield api_url, redis_url
    finally:
        for child in reversed(children):
            child.terminate()
            child.wait(timeout=30)
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)


def measure(
    client: httpx.Client, store: redis.Redis, params: dict[str, str | int], repeat: int
) -> tuple[int, int, float]:
    """(page bytes, Redis bytes sent per page, median seconds) of ``GET /v1/jobs``."""
    sizes, redis_bytes, seconds = [], [], []
    for _ in range(repeat):
        before = int(store.info("stats")["total_net_output_bytes"])
        started = time.perf_counter()
        response = client.get("/v1/jobs", params=params)
        seconds.append(time.perf_counter() - started)
        response.raise_for_status()
        redis_bytes.append(int(store.info("stats")["total_net_output_bytes"]) - before)
        sizes.append(len(response.content))
    return max(sizes), int(statistics.median(redis_bytes)), statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--kb", type=int, default=900, help="prompt size of each job")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--api-root", type=Path, default=ROOT, help="checkout to run the API from")
    args = parser.parse_args()

    prompt = "x" * (args.kb * 1000)
    body = {"type": "completion", "request": {"model": "gpt-4o-mini", "messages": []}}
    with (
        redis_and_api(args.api_root, max_body=len(prompt) + 64_000) as (api_url, redis_url),
        httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120
        ) as client,
    ):
        store = redis.Redis.from_url(redis_url)
        for i in range(args.jobs):
            body["request"]["messages"] = [{"role": "user", "content": f"{prompt}{i}"}]  # type: ignore[index]
            client.post("/v1/jobs", json=body).raise_for_status()
        table = Table(title=f"GET /v1/jobs?limit=100, {args.jobs} parked jobs of {args.kb} KB")
        for column in ("listing", "page bytes", "Redis → API bytes", "API time (median)"):
            table.add_column(column, justify="right")
        for label, params in (
            ("summaries (default)", {"limit": 100}),
            ("expand=request", {"limit": 100, "expand": "request"}),
        ):
            size, from_redis, seconds = measure(client, store, params, args.repeat)
            table.add_row(label, f"{size:,}", f"{from_redis:,}", f"{seconds * 1000:,.1f} ms")
        store.close()
    Console().print(table)


if __name__ == "__main__":
    main()
