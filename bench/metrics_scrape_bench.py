"""What one scrape of the API's ``/metrics`` costs: the scrape's wall time and Redis's time
for the cluster figures' script, with ``--instances`` provider instances, empty and with a
large backlog (the read must not grow with it).

Starts its own redis-server and API (no workers: nothing consumes the fake backlog). The
backlog is written straight into Redis: ``--backlog`` messages per instance spread over its
priority lists, and as many deferred jobs (the deferred set and the instance's index of it),
a tenth of them in the instance's waiting line.

    .venv/bin/python bench/metrics_scrape_bench.py [--instances 8] [--backlog 20000] [--scrapes 300]
"""

from __future__ import annotations

import argparse
import os
import shutil
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
import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.job_list_bench import free_port, wait_for  # noqa: E402
from gateway import keys  # noqa: E402
from gateway.queues import MAX_PRIORITY, instance_queue, queue_key  # noqa: E402


def providers_file(path: Path, instances: int) -> Path:
    body = {
        f"bench-{i}": {
            "type": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": "OPENAI_API_KEY",
            "models": [f"bench-model-{i}"],
            "limits": {"max_concurrency": 10},
        }
        for i in range(instances)
    }
    path.write_text(yaml.safe_dump({"default_model": None, "instances": body}))
    return path


@contextmanager
def redis_and_api(instances: int) -> Iterator[tuple[str, redis.Redis]]:
    scratch = Path(tempfile.mkdtemp(prefix="metrics-bench-"))
    redis_port, api_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = {
        **os.environ,
        "LLM_GATEWAY_REDIS_URL": redis_url,
        "LLM_GATEWAY_AUTH_DISABLED": "true",
        "LLM_GATEWAY_LOG_LEVEL": "WARNING",
        "LLM_GATEWAY_PROVIDERS_FILE": str(providers_file(scratch / "p.yaml", instances)),
        "OPENAI_API_KEY": "sk-bench-unused",
    }
    log = (scratch / "processes.log").open("wb")
    server = shutil.which("redis-server") or "redis-server"
    children = [
        subprocess.Popen(
            [server, "--port", str(redis_port), "--save", "", "--dir", str(scratch)],
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "cli", "api", "--port", str(api_port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        api_url = f"http://127.0.0.1:{api_port}"
        wait_for(f"{api_url}/health")
        yield api_url, redis.Redis.from_url(redis_url)
    finally:
        for child in reversed(children):
            child.terminate()
            child.wait(timeout=30)
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)


def fill_backlog(store: redis.Redis, instances: int, per_instance: int) -> None:
    due = int(time.time() * 1000) + 3_600_000  # an hour ahead: nothing is overdue
    for i in range(instances):
        name = f"bench-{i}"
        pipe = store.pipeline(transaction=False)
        for n in range(per_instance):
            pipe.rpush(queue_key(instance_queue(name), n % (MAX_PRIORITY + 1)), b"m")
            job = f"{name}-job-{n}"
            pipe.zadd(keys.DEFERRED, {job: due})
            pipe.zadd(keys.limit(name, "deferred"), {job: due})
            if n % 10 == 0:
                pipe.zadd(keys.limit(name, "waiting:until"), {job: due})
        pipe.execute()


def timed(client: httpx.Client, path: str, times: int) -> list[float]:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        seconds.append(time.perf_counter() - started)
    return sorted(seconds)


def measure(api_url: str, store: redis.Redis, scrapes: int) -> tuple[float, float, float, float]:
    """(scrape p50 ms, scrape p95 ms, /health p50 ms, Redis µs per script run)."""
    with httpx.Client(base_url=api_url, timeout=30) as client:
        client.get("/metrics").raise_for_status()  # the script's first load
        store.config_resetstat()
        # Interleaved, so both see the same machine load.
        scrape, health = [], []
        for _ in range(scrapes // 10):
            scrape += timed(client, "/metrics", 10)
            health += timed(client, "/health", 10)
    stats = store.info("commandstats")
    script = stats.get("cmdstat_evalsha") or stats.get("cmdstat_eval") or {}
    scrape.sort()
    p95 = scrape[int(len(scrape) * 0.95) - 1]
    return (
        statistics.median(scrape) * 1000,
        p95 * 1000,
        statistics.median(health) * 1000,
        float(script.get("usec_per_call", 0)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=8)
    parser.add_argument("--backlog", type=int, default=20_000, help="per instance, each kind")
    parser.add_argument("--scrapes", type=int, default=300)
    args = parser.parse_args()
    table = Table(title=f"GET /metrics, {args.instances} provider instances")
    columns = ("backlog per instance", "scrape p50", "scrape p95", "/health p50", "Redis/scrape")
    for column in columns:
        table.add_column(column, justify="right")
    with redis_and_api(args.instances) as (api_url, store):
        for label, fill in (("empty", 0), (f"{args.backlog} queued, {args.backlog} deferred", 1)):
            if fill:
                fill_backlog(store, args.instances, args.backlog)
            p50, p95, health, redis_us = measure(api_url, store, args.scrapes)
            table.add_row(
                label, f"{p50:.2f} ms", f"{p95:.2f} ms", f"{health:.2f} ms", f"{redis_us:.0f} µs"
            )
    Console().print(table)


if __name__ == "__main__":
    main()
