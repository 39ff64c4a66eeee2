"""The baseline of ``async_jobs_bench.py``: bare Celery 5 running no-op tasks.

A tiny Celery app of its own (not the gateway's), on the stack's Redis but in another
database, so its queue and keys never meet the gateway's. The worker runs the same pool and
concurrency as the gateway's (``-P threads -c N``) and the same delivery guarantees
(``celeryconfig``: late acks, prefetch 1, no results), so the difference is what the gateway
does per job beyond Celery's own publish, deliver and ack. Each task INCRs one counter: the
bench knows every task ran when the counter reaches N, without a result backend.

The worker imports this module by name (``celery -A noop_celery``) and reads its broker
from ``BENCH_CELERY_BROKER``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from celery import Celery

BROKER_ENV = "BENCH_CELERY_BROKER"
QUEUE = "bench.noop"
COUNTER = "bench:noop:done"

app = Celery("bench_noop", set_as_current=False)
app.conf.update(
    broker_url=os.environ.get(BROKER_ENV, "redis://127.0.0.1:6379/1"),
    task_default_queue=QUEUE,
    # The gateway's worker guarantees (celeryconfig), so both sides pay for the same acks.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    worker_send_task_events=False,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    # One producer connection per sending thread: a smaller pool would queue the senders.
    broker_pool_limit=64,
)

_counter_lock = threading.Lock()
_counter_client: redis.Redis | None = None


def _counter() -> redis.Redis:
    global _counter_client
    with _counter_lock:
        if _counter_client is None:
            _counter_client = redis.Redis.from_url(str(app.conf.broker_url))
        return _counter_client


@app.task(name="bench.noop")  # type: ignore[untyped-decorator]
def noop() -> None:
    _counter().incr(COUNTER)


@dataclass(frozen=True, slots=True)
class CeleryRun:
    """One batch of no-op tasks: wall times (``time.perf_counter``) and the worker's pid."""

    tasks: int
    started: float
    sent: float
    done: float
    worker_pid: int


@contextmanager
def noop_worker(broker_url: str, concurrency: int, log_path: Path) -> Iterator[int]:
    """A bare Celery worker (threads pool) on ``broker_url``, ready when this yields its pid;
    stopped (warm shutdown, then killed) afterwards."""
    app.conf.broker_url = broker_url
    env = {**os.environ, BROKER_ENV: broker_url}
    argv = [sys.executable, "-m", "celery", "-A", "noop_celery", "worker", "-P", "threads"]
    argv += ["-c", str(concurrency), "-Q", QUEUE, "-l", "WARNING"]
    argv += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv, cwd=Path(__file__).parent, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            store = redis.Redis.from_url(broker_url)
            store.delete(COUNTER)
            noop.delay()  # ready = it ran a task
            _wait_count(store, 1, 120, proc)
            store.delete(COUNTER)
            yield proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_noops(broker_url: str, tasks: int, senders: int, worker_pid: int) -> CeleryRun:
    """``tasks`` no-ops sent with ``.delay()`` from ``senders`` threads; returns once every
    one has run (the counter reached ``tasks``)."""
    store = redis.Redis.from_url(broker_url)
    store.delete(COUNTER)
    remaining = iter(range(tasks))
    lock = threading.Lock()

    def send() -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            noop.delay()

    threads = [threading.Thread(target=send) for _ in range(senders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = time.perf_counter()
    done = _wait_count(store, tasks, 600)
    return CeleryRun(tasks, started, sent, done, worker_pid)


def _wait_count(
    store: redis.Redis, count: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None
) -> float:
    """``perf_counter()`` when the counter reached ``count`` (polled every 5 ms: one GET,
    nothing next to the tasks' own Redis traffic)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if int(store.get(COUNTER) or 0) >= count:
            return time.perf_counter()
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the bare Celery worker exited ({proc.returncode})")
        time.sleep(0.005)
    raise RuntimeError(f"only {int(store.get(COUNTER) or 0)} of {count} no-op tasks ran")
