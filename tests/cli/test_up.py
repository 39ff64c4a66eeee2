"""``llm-gateway up``: the whole local stack from one command, and its parts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ROOT, Process, free_port, wait_until


def up_env(redis_port: int, worker_concurrency: int) -> dict[str, str]:
    """The environment of a fresh machine: own Redis port, no keys, no provider URLs."""
    env = {
        **os.environ,
        "LLM_GATEWAY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "LLM_GATEWAY_WORKER_CONCURRENCY": str(worker_concurrency),
        "LLM_GATEWAY_LOG_LEVEL": "WARNING",
    }
    for name in (
        "LLM_GATEWAY_API_KEYS",
        "OPENAI_BASE_URL",
        "ANTHROPIC_BASE_URL",
        "LLM_GATEWAY_SEMANTIC_SEARCH_URL",
        "LLM_GATEWAY_AI_AGENTS_URL",
    ):
        env.pop(name, None)
    return env


def test_up_starts_stack_runs_demo_jobs_and_stops(tmp_path: Path) -> None:
    redis_port = free_port()
    env = up_env(redis_port, worker_concurrency=4)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "up",
            "--exit-after-demo",
            "--port",
            str(free_port()),
            "--emulator-port",
            str(free_port()),
            "--flower-port",
            str(free_port()),
            "--downstream-port",
            str(free_port()),
            "--emulator-latency-ms",
            "10",
            "--state-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    # Both providers, a tool loop and a tool job.
    assert output.count("succeeded") >= 4
    assert "gpt-4o-mini" in output and "claude-sonnet-4-5" in output
    assert "search_corpus" in output and "tool get_chunk" in output
    # Redis it started itself kept an append-only file, and is gone again.
    assert any((tmp_path / "redis").rglob("*.aof*"))
    assert (
        subprocess.run(
            ["redis-cli", "-p", str(redis_port), "ping"], capture_output=True, check=False
        ).returncode
        != 0
    )


def test_flower_requires_basic_auth(tmp_path: Path, redis_server: object) -> None:
    port = free_port()
    env = {
        **os.environ,
        "LLM_GATEWAY_REDIS_URL": redis_server.url,  # type: ignore[attr-defined]
        "FLOWER_BASIC_AUTH": "ops:s3cret",
    }
    flower = Process(
        "flower",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers",
            "flower",
            f"--port={port}",
            "--address=127.0.0.1",
        ],
        env,
        tmp_path / "flower.log",
    ).start()
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until(lambda: httpx.get(url).status_code in (200, 401), 30, "flower")
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, auth=("ops", "s3cret")).status_code == 200
    finally:
        flower.stop()


def test_interrupt_stops_every_process(tmp_path: Path) -> None:
    api_port, redis_port = free_port(), free_port()
    env = up_env(redis_port, worker_concurrency=2)
    up = subprocess.Popen(
        [sys.executable, "-m", "cli", "up", "--no-demo", "--no-flower", "--port", str(api_port),
         "--emulator-port", str(free_port()), "--downstream-port", str(free_port()),
         "--state-dir", str(tmp_path)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        ready = f"http://127.0.0.1:{api_port}/health/ready"
        wait_until(lambda: httpx.get(ready).status_code == 200, 60, "stack")
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(ready)
        ping = subprocess.run(
            ["redis-cli", "-p", str(redis_port), "ping"], capture_output=True, check=False
        )
        assert b"PONG" not in ping.stdout
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
