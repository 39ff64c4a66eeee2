"""``llm-gateway usage`` (and ``GatewayClient.usage``) in-process against the real
stack's API: the caller's paid requests, tokens and cost, as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli.main import cli
from client import GatewayClient
from emulator import EmulatorControl
from tests.conftest import KEY_A
from tests.support.processes import Stack


@pytest.fixture
def gateway(stack: Stack, emulator: EmulatorControl) -> Iterator[GatewayClient]:
    with GatewayClient(stack.api_url, KEY_A) as client:
        yield client


@pytest.fixture
def run(stack: Stack) -> Any:
    env = {"LLM_GATEWAY_URL": stack.api_url, "LLM_GATEWAY_API_KEY": KEY_A, "COLUMNS": "200"}

    def invoke(*args: str) -> Result:
        result = CliRunner().invoke(cli, list(args), env=env)
        assert "Traceback" not in result.output
        return result

    return invoke


def _one_paid_job(gateway: GatewayClient) -> None:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "usage"}]}
    job = gateway.submit("completion", request)
    assert gateway.wait(job.id, timeout=30).status == "succeeded"


def test_the_client_reads_the_report_and_a_new_job_counts(gateway: GatewayClient) -> None:
    today = datetime.now(UTC).date().isoformat()
    before = gateway.usage(today, today, "model")
    _one_paid_job(gateway)
    after = gateway.usage(today, today, "model")
    assert (after.start, after.end, after.group_by) == (today, today, "model")
    assert after.totals.requests == before.totals.requests + 1
    assert after.totals.input_tokens > before.totals.input_tokens
    assert "gpt-4o-mini" in {group.key for group in after.data}


def test_the_table_shows_each_group_and_the_total(gateway: GatewayClient, run: Any) -> None:
    _one_paid_job(gateway)
    result = run("usage", "--group-by", "provider")
    assert result.exit_code == 0, result.output
    assert "openai" in result.stdout and "total" in result.stdout
    assert "rate limits:" in result.stdout


def test_json_output_is_the_whole_report(gateway: GatewayClient, run: Any) -> None:
    _one_paid_job(gateway)
    result = run("usage", "--output", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["object"] == "usage" and report["group_by"] == "day"
    assert report["totals"]["requests"] >= 1


def test_a_bad_day_is_one_line_on_stderr_and_exit_1(run: Any) -> None:
    result = run("usage", "--start", "2026-13-40")
    assert result.exit_code == 1
    assert "error: invalid_request" in result.output and "start" in result.output
