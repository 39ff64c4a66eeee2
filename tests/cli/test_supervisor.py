"""``up`` as a supervisor: a dead child is restarted while the rest keeps serving, no
child outlives ``up``, and Ctrl-C stops everything within a bound."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from cli.supervisor import Supervisor
from tests.support.local_stack import alive, children_of, up_argv, up_env
from tests.support.processes import ROOT, free_port, wait_until


@dataclass
class RunningUp:
    proc: subprocess.Popen[bytes]
    api: str
    log: Path


@pytest.fixture
def running_up(tmp_path: Path) -> Iterator[RunningUp]:
    """``up --no-demo --no-flower`` with every queue consumed."""
    api_port, log = free_port(), tmp_path / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            up_argv("--no-demo", "--no-flower", "--port", str(api_port),
                    "--emulator-port", str(free_port()), "--downstream-port", str(free_port()),
                    "--storage-port", str(free_port()), "--state-dir", str(tmp_path)),
            cwd=ROOT, env=up_env(free_port(), worker_concurrency=2), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    api = f"http://127.0.0.1:{api_port}"
    try:
        wait_until(lambda: _all_queues_consumed(api), 90, "stack")
        yield RunningUp(proc, api, log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _all_queues_consumed(api: str) -> bool:
    queues = httpx.get(f"{api}/health/ready").json()["queues"]
    return bool(queues) and all(queues.values())


def test_a_killed_worker_is_restarted_and_the_rest_keeps_its_pids(
    running_up: RunningUp,
) -> None:
    before = children_of(running_up.proc.pid)
    [victim] = [pid for pid, cmd in before.items() if "--queues llm.openai " in cmd]
    os.kill(victim, signal.SIGKILL)

    def restarted() -> bool:
        now = children_of(running_up.proc.pid)
        return len(now) == len(before) and victim not in now

    wait_until(restarted, 30, "restarted worker")
    after = children_of(running_up.proc.pid)
    assert {pid: before[pid] for pid in before if pid != victim} == {
        pid: cmd for pid, cmd in after.items() if "--queues llm.openai " not in cmd
    }
    log = running_up.log.read_text()
    assert "worker llm.openai #0" in log and "was killed by SIGKILL; restarting in 1 s" in log
    # A job on the killed worker's queue is served by its replacement.
    headers = {"Authorization": "Bearer dev-key"}
    body = {
        "type": "completion",
        "request": {
            "model": "gpt-4o-mini",
            "provider": "openai",
            "messages": [{"role": "user", "content": "after the restart"}],
        },
    }
    with httpx.Client(base_url=running_up.api, headers=headers, timeout=60) as client:
        job = client.post("/v1/jobs", json=body).json()
        done = client.get(f"/v1/jobs/{job['id']}/wait", params={"timeout": 50}).json()
    assert done["status"] == "succeeded", done
    assert done["provider"] == "openai"


def test_no_child_outlives_a_killed_up(running_up: RunningUp) -> None:
    children = children_of(running_up.proc.pid)
    assert len(children) >= 5  # Redis, emulator, stand-in, API, workers
    os.kill(running_up.proc.pid, signal.SIGKILL)
    running_up.proc.wait()
    wait_until(lambda: not any(alive(pid) for pid in children), 10, "children gone")


def test_interrupt_stops_every_process_within_a_bound(running_up: RunningUp) -> None:
    children = children_of(running_up.proc.pid)
    started = time.monotonic()
    running_up.proc.send_signal(signal.SIGINT)
    assert running_up.proc.wait(timeout=45) == 0
    assert time.monotonic() - started < 45
    assert not any(alive(pid) for pid in children)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{running_up.api}/health/ready")


def test_a_crash_loop_is_restarted_with_a_doubling_backoff() -> None:
    out = io.StringIO()
    supervisor = Supervisor(Console(file=out, width=200))
    supervisor.spawn("crasher", [sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))
    try:
        deadline = time.monotonic() + 4.5  # exits at ~0, restarts at ~1 s and ~3 s
        while time.monotonic() < deadline:
            supervisor.tick()
            time.sleep(0.05)
    finally:
        supervisor.stop(first=(), last=())
    delays = [line.rpartition("restarting in ")[2] for line in out.getvalue().splitlines()]
    assert [d for d in delays if d.endswith(" s")][:2] == ["1 s", "2 s"], out.getvalue()
    assert "exited with status 3" in out.getvalue()
