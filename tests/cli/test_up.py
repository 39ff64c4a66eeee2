"""``llm-gateway up``: the whole local stack from one command, and its parts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cli.demo_rag import LABEL as RAG_LABEL
from cli.flower_login import flower_login
from cli.stack import LocalStack, StackPorts
from tests.support.local_stack import PROVIDER_VARIABLES, up_argv, up_env
from tests.support.processes import ROOT, Process, free_port, wait_until


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


def test_up_runs_a_demo_job_per_instance_and_reports_a_failing_real_one(tmp_path: Path) -> None:
    redis_port, closed_port = free_port(), free_port()
    env = up_env(redis_port, worker_concurrency=4)
    # A "real" Anthropic: a fake key, and its endpoint a closed local port, so nothing can
    # leave the machine. Its demo job must fail, not be served by Bedrock's emulated Claude.
    real_anthropic = f"http://127.0.0.1:{closed_port}"
    env |= {"ANTHROPIC_API_KEY": "sk-test-not-real", "ANTHROPIC_BASE_URL": real_anthropic}
    result = subprocess.run(
        up_argv(
            "--exit-after-demo",
            "--port", str(free_port()),
            "--emulator-port", str(free_port()),
            "--flower-port", str(free_port()),
            "--downstream-port", str(free_port()),
            "--storage-port", str(free_port()),
            "--emulator-latency-ms", "10",
            "--state-dir", str(tmp_path),
        ),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    # --exit-after-demo turns the failed demo job into the exit code.
    assert result.returncode == 1, output[-3000:]
    assert f"real     anthropic ({real_anthropic})" in output, output[-3000:]
    rows = _table_rows(output)
    # Both providers, a tool loop, a tool job, an enhancement, one completion pinned to
    # each other instance (every adapter against its emulated protocol) and the RAG row.
    assert len(rows) == 13, output[-3000:]
    instance, origin, status = rows.pop("claude-sonnet-4-5")[:3]
    assert (instance, origin) == ("anthropic", "real") and status != "succeeded"
    for label, (instance, origin, status, *_) in rows.items():
        assert status == "succeeded", (label, output[-3000:])
        assert origin == "emulated" or instance == "-", label
    assert rows["gpt-4o-mini"][0] == "openai"
    for instance in ("bedrock-us", "bedrock-eu", "azure", "vertex", "ollama", "watsonx", "oci"):
        assert any(label.startswith(f"{instance}:") for label in rows), instance
    assert "gpt-4o-mini + search_corpus" in rows and "tool get_chunk" in rows
    # The storage seed's three steps on the local store moto stands in for: the model's
    # answer comes from the uploaded document, which only the worker's fetch can have read.
    assert rows[RAG_LABEL][2] == "succeeded", output[-3000:]
    assert "BLUE-HERON" in rows[RAG_LABEL][3], output[-3000:]
    # Flower's generated login: in a 0600 file of the state dir, and the output (a pipe
    # here, as a log file would be) names the file, never the password.
    login_file = tmp_path / "flower-login"
    assert login_file.stat().st_mode & 0o777 == 0o600
    user, _, password = login_file.read_text().strip().partition(":")
    assert user == "admin" and len(password) >= 16
    assert password not in output
    assert f"(login in {login_file})" in output, output[-3000:]
    # Redis it started itself kept an append-only file, and is gone again.
    assert any((tmp_path / "redis").rglob("*.aof*"))
    assert (
        subprocess.run(
            ["redis-cli", "-p", str(redis_port), "ping"], capture_output=True, check=False
        ).returncode
        != 0
    )


def _table_rows(output: str) -> dict[str, list[str]]:
    """The demo table's rows: job label to its other cells."""
    rows: dict[str, list[str]] = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 6 and cells[0] not in ("job", ""):
            rows[cells[0]] = cells[1:]
    return rows


def test_a_generated_flower_login_is_kept_in_a_private_file_and_shown_only_on_a_terminal(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    first = flower_login(state, None)
    assert first.path == state / "flower-login"
    assert first.path.stat().st_mode & 0o777 == 0o600
    assert first.describe(terminal=False) == f"login in {first.path}"
    assert first.login in first.describe(terminal=True)
    first.path.chmod(0o644)  # e.g. restored from a backup
    assert flower_login(state, None) == first  # the same login next time, tightened again
    assert first.path.stat().st_mode & 0o777 == 0o600
    configured = flower_login(tmp_path / "other", "ops:s3cret")
    assert (configured.login, configured.path) == ("ops:s3cret", None)
    assert "s3cret" not in configured.describe(terminal=True)
    assert not (tmp_path / "other").exists()


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
