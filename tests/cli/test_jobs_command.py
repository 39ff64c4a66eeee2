"""``llm-gateway jobs ...`` in-process against the real stack's API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli.main import cli
from client import GatewayClient, Job
from emulator import EmulatorControl, directive
from tests.conftest import KEY_A
from tests.support.processes import Stack, free_port


@pytest.fixture
def gateway(stack: Stack, emulator: EmulatorControl) -> Iterator[GatewayClient]:
    with GatewayClient(stack.api_url, KEY_A) as client:
        yield client


@pytest.fixture
def run(stack: Stack) -> Any:
    """``run(*args)``: the command with the stack's URL and key from the environment, as a
    user would set them; a wide terminal so tables are not cut."""
    env = {"LLM_GATEWAY_URL": stack.api_url, "LLM_GATEWAY_API_KEY": KEY_A, "COLUMNS": "200"}

    def invoke(*args: str, **extra_env: str) -> Result:
        result = CliRunner().invoke(cli, list(args), env={**env, **extra_env})
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        return result

    return invoke


def submit(gateway: GatewayClient, text: str = "hello") -> Job:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    return gateway.submit("completion", request)


def test_get_prints_the_record_as_json(gateway: GatewayClient, run: Any) -> None:
    job = submit(gateway, "as json")
    gateway.wait(job.id, timeout=20)
    result = run("jobs", "get", job.id)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert (record["id"], record["status"]) == (job.id, "succeeded")
    assert record["result"]["message"]["content"] == "echo: as json"


def test_get_as_table_prints_a_summary(gateway: GatewayClient, run: Any) -> None:
    job = submit(gateway)
    done = gateway.wait(job.id, timeout=20)
    result = run("jobs", "get", job.id, "--output", "table")
    assert result.exit_code == 0, result.output
    assert job.id in result.stdout and "succeeded" in result.stdout
    assert done.usage is not None and str(done.usage["total_tokens"]) in result.stdout


def test_get_as_table_says_what_the_response_cache_did(gateway: GatewayClient, run: Any) -> None:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": uuid.uuid4().hex}]}
    miss = gateway.wait(gateway.submit("completion", request, cache="use", cache_ttl=90).id, 20)
    hit = gateway.submit("completion", request, cache="use")
    shown = {job.id: run("jobs", "get", job.id, "--output", "table").stdout for job in (miss, hit)}
    assert "miss (answer cached for 90 s)" in shown[miss.id]
    assert "hit (cached " in shown[hit.id] and "never queued" in shown[hit.id]


def test_wait_exits_0_when_the_job_succeeds(gateway: GatewayClient, run: Any) -> None:
    job = submit(gateway, directive(latency_ms=300))
    result = run("jobs", "wait", job.id, "--timeout", "20")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "succeeded"


def test_wait_exits_1_when_the_job_fails(gateway: GatewayClient, run: Any) -> None:
    job = submit(gateway, directive(status=400, error="no thanks"))
    result = run("jobs", "wait", job.id, "--timeout", "20", "--output", "table")
    assert result.exit_code == 1, result.output
    assert "failed" in result.stdout and "provider_rejected" in result.stdout


def test_wait_exits_1_when_the_job_was_cancelled(gateway: GatewayClient, run: Any) -> None:
    job = submit(gateway, directive(latency_ms=2000))
    gateway.cancel(job.id)
    result = run("jobs", "wait", job.id)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["status"] == "cancelled"


def test_wait_exits_2_when_the_job_is_still_running_at_the_timeout(
    gateway: GatewayClient, run: Any
) -> None:
    job = submit(gateway, directive(latency_ms=3000))
    result = run("jobs", "wait", job.id, "--timeout", "0.5")
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["status"] in ("queued", "running")


def test_list_shows_the_newest_jobs_with_the_status_filter(
    gateway: GatewayClient, run: Any
) -> None:
    done = [submit(gateway, f"n{i}") for i in range(3)]
    for job in done:
        gateway.wait(job.id, timeout=20)
    slow = submit(gateway, directive(latency_ms=2000))
    gateway.cancel(slow.id)
    result = run("jobs", "list", "--status", "succeeded", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert done[2].id in result.stdout and done[1].id in result.stdout
    assert done[0].id not in result.stdout and slow.id not in result.stdout


def test_list_as_json_prints_one_summary_a_line_expanded_on_request(
    gateway: GatewayClient, run: Any
) -> None:
    job = submit(gateway, "listed")
    gateway.wait(job.id, timeout=20)
    plain = run("jobs", "list", "--output", "json")
    assert plain.exit_code == 0, plain.output
    [line] = plain.stdout.splitlines()
    summary = json.loads(line)
    assert (summary["id"], summary["status"]) == (job.id, "succeeded")
    assert "request" not in summary and "result" not in summary
    expanded = run("jobs", "list", "--output", "json", "--expand", "result")
    [line] = expanded.stdout.splitlines()
    assert json.loads(line)["result"]["message"]["content"] == "echo: listed"


def test_cancel_prints_the_cancelled_job(gateway: GatewayClient, run: Any) -> None:
    job = submit(gateway, directive(latency_ms=2000))
    result = run("jobs", "cancel", job.id)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "cancelled"


def test_gateway_error_is_one_line_on_stderr_and_exit_1(stack: Stack, run: Any) -> None:
    result = run("jobs", "get", "job_0000000000000000")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: not_found: ")
    assert result.stderr.count("\n") == 1


def test_bad_key_is_an_authentication_error(stack: Stack, run: Any) -> None:
    result = run("jobs", "cancel", "job_0123", "--api-key", "wrong-key")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: authentication_error: ")
    assert "wrong-key" not in result.stderr


def test_unreachable_gateway_is_one_clear_line_and_exit_1(run: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run("jobs", "list", "--url", url)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot reach {url}")
    assert result.stderr.count("\n") == 1
