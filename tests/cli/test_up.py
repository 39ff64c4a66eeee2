"""``llm-gateway up``: the whole local stack from one command, and its parts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from cli.stack import LocalStack, StackPorts
from emulator.local_env import emulator_env_by_provider
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
        "LLM_GATEWAY_SEMANTIC_SEARCH_URL",
        "LLM_GATEWAY_AI_AGENTS_URL",
        *PROVIDER_VARIABLES,
    ):
        env.pop(name, None)
    return env


def _provider_variables() -> list[str]:
    with tempfile.TemporaryDirectory() as scratch:
        groups = emulator_env_by_provider("http://127.0.0.1:1", Path(scratch))
    return [name for variables in groups.values() for name in variables]


PROVIDER_VARIABLES = _provider_variables()


def test_a_provider_goes_to_the_emulator_only_when_none_of_its_variables_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PROVIDER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WATSONX_API_KEY", "a-real-ibm-key")
    stack = LocalStack(StackPorts(8080, 8090, 5555, 8091), 0, str(tmp_path), flower=False)
    env = stack.env
    # watsonx keeps the user's key and its real endpoints: the key never meets the emulator.
    assert env["WATSONX_API_KEY"] == "a-real-ibm-key"
    assert "WATSONX_URL" not in env and "WATSONX_IAM_URL" not in env
    # Every other provider is pointed at the emulator whole.
    assert env["OPENAI_BASE_URL"] == "http://127.0.0.1:8090/v1"
    assert env["BEDROCK_US_ENDPOINT"] == "http://127.0.0.1:8090"
    key_file = Path(env["OCI_PRIVATE_KEY_FILE"])
    assert key_file.stat().st_mode & 0o777 == 0o600


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
    # Both providers, a tool loop, a tool job and one completion pinned to each other
    # instance (every adapter against its emulated protocol).
    assert output.count("succeeded") >= 11, output[-3000:]
    assert "gpt-4o-mini" in output and "claude-sonnet-4-5" in output
    for instance in ("bedrock-us", "bedrock-eu", "azure", "vertex", "ollama", "watsonx", "oci"):
        assert f"{instance}:" in output, output[-3000:]
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
