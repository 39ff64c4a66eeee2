"""``llm-gateway batch ...`` in-process against the real stack's API. The emulator plays an
enhancer: a plain document passes every check; a directive written in a document scripts
that document's model calls (a failure, or a reply that drops the content)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli.main import cli
from client import GatewayClient
from emulator import EmulatorControl, directive
from tests.conftest import KEY_A
from tests.support.processes import Stack

DOCUMENTS = {
    "loops.md": "# Tool loops\n\nThe worker runs the model's tool calls.\n\n## Limits\n\n"
    "A loop stops after max_iterations rounds.\n",
    "hooks.md": "# Webhooks\n\nThe gateway signs every delivery and retries failed ones.\n",
    "sessions.md": "# Sessions\n\nA session keeps a conversation between requests.\n",
}
# The model answers every step with this line: the enhanced document loses its content.
DROPPED = "# Dropped\n\nThis paragraph will not survive.\n\n" + directive(reply="Done.") + "\n"
# The provider refuses every call: the document's job fails.
REFUSED = "# Refused\n\n" + directive(status=400, error="no thanks") + "\n"
SLOW = "# Slow\n\n" + directive(latency_ms=4000) + "\n"


@pytest.fixture
def gateway(stack: Stack, emulator: EmulatorControl) -> Iterator[GatewayClient]:
    with GatewayClient(stack.api_url, KEY_A) as client:
        yield client


@pytest.fixture
def run(stack: Stack, emulator: EmulatorControl, tmp_path: Path, monkeypatch: Any) -> Any:
    """``run(*args)`` in ``tmp_path`` (so documents are named by short relative paths),
    with the stack's URL and key in the environment and a wide terminal."""
    monkeypatch.chdir(tmp_path)
    env = {"LLM_GATEWAY_URL": stack.api_url, "LLM_GATEWAY_API_KEY": KEY_A, "COLUMNS": "200"}

    def invoke(*args: str) -> Result:
        result = CliRunner().invoke(cli, list(args), env=env)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        return result

    return invoke


def write(tmp_path: Path, documents: dict[str, str]) -> list[str]:
    for name, text in documents.items():
        (tmp_path / name).write_text(text)
    return list(documents)


def table_row(stdout: str, custom_id: str) -> str:
    [row] = [line for line in stdout.splitlines() if f" {custom_id} " in line]
    return row


def test_submit_wait_results_all_good_exits_0(run: Any, tmp_path: Path) -> None:
    files = write(tmp_path, DOCUMENTS)
    result = run(
        "batch", "submit", *files, "--model", "gpt-4o-mini", "--wait",
        "--poll-seconds", "0.2", "--results", "out.jsonl",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    batch_id = result.stdout.splitlines()[0]
    assert batch_id.startswith("batch_")
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["custom_id"] for line in lines] == files
    assert all(line["status"] == "succeeded" for line in lines)
    assert all(line["result"]["validation"]["passed"] for line in lines)
    loops = table_row(result.stdout, "loops.md")
    assert "succeeded" in loops and "✓" in loops
    assert loops.split("│")[4].strip() == "2"  # citations: chunk-004 and chunk-011
    assert "3 documents: 3 succeeded; validation failed: 0; tokens: " in result.stdout


def test_a_failed_or_invalid_document_exits_1_and_shows_why(run: Any, tmp_path: Path) -> None:
    files = write(
        tmp_path, {"loops.md": DOCUMENTS["loops.md"], "dropped.md": DROPPED, "refused.md": REFUSED}
    )
    result = run(
        "batch", "submit", *files, "--model", "gpt-4o-mini", "--no-review", "--wait",
        "--poll-seconds", "0.2",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "✓" in table_row(result.stdout, "loops.md")
    dropped = table_row(result.stdout, "dropped.md")
    assert "succeeded" in dropped and "✗" in dropped and "content" in dropped
    refused = table_row(result.stdout, "refused.md")
    assert "failed" in refused and "provider_rejected" in refused
    assert "3 documents: 1 failed, 2 succeeded; validation failed: 1" in result.stdout


def test_options_reach_the_batch(run: Any, gateway: GatewayClient, tmp_path: Path) -> None:
    files = write(tmp_path, {"loops.md": DOCUMENTS["loops.md"]})
    result = run(
        "batch", "submit", *files, "--model", "gpt-4o-mini", "--no-review",
        "--option", "max_iterations=2", "--option", "prompt_version=v1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    batch = gateway.get_batch(result.stdout.strip())
    assert batch.options["review"] is False
    assert (batch.options["max_iterations"], batch.options["prompt_version"]) == (2, "v1")


def test_results_stream_to_stdout_or_a_file(
    run: Any, gateway: GatewayClient, tmp_path: Path
) -> None:
    documents = [{"custom_id": name, "text": text} for name, text in DOCUMENTS.items()]
    batch = gateway.submit_batch("gpt-4o-mini", documents)
    gateway.wait_batch(batch.id, timeout=60, poll_seconds=0.2)
    printed = run("batch", "results", batch.id)
    assert printed.exit_code == 0, printed.output
    lines = [json.loads(line) for line in printed.stdout.splitlines()]
    assert [line["custom_id"] for line in lines] == list(DOCUMENTS)
    written = run("batch", "results", batch.id, "-o", "results.jsonl")
    assert written.exit_code == 0 and written.stdout == ""
    assert (tmp_path / "results.jsonl").read_text() == printed.stdout


def test_get_prints_the_batch_as_json_or_table(run: Any, gateway: GatewayClient) -> None:
    batch = gateway.submit_batch("gpt-4o-mini", [{"text": DOCUMENTS["hooks.md"]}])
    gateway.wait_batch(batch.id, timeout=60, poll_seconds=0.2)
    as_json = run("batch", "get", batch.id)
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["request_counts"]["succeeded"] == 1
    as_table = run("batch", "get", batch.id, "--output", "table")
    assert batch.id in as_table.stdout and "completed" in as_table.stdout


def test_wait_exits_2_while_the_batch_runs_and_cancel_ends_it(run: Any, tmp_path: Path) -> None:
    files = write(tmp_path, {"slow-1.md": SLOW, "slow-2.md": SLOW})
    submitted = run("batch", "submit", *files, "--model", "gpt-4o-mini")
    assert submitted.exit_code == 0, submitted.output
    batch_id = submitted.stdout.strip()
    waited = run("batch", "wait", batch_id, "--timeout", "0.5", "--poll-seconds", "0.2")
    assert waited.exit_code == 2
    assert f"batch {batch_id} is still in_progress (0/2 done)" in waited.stderr
    cancelled = run("batch", "cancel", batch_id)
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout)["status"] in ("cancelling", "cancelled")
    ended = run("batch", "wait", batch_id, "--timeout", "30", "--poll-seconds", "0.2")
    assert ended.exit_code == 1
    assert "2 documents: 2 cancelled" in ended.stdout


def test_unknown_batch_is_one_error_line_and_exit_1(run: Any) -> None:
    for command in ("get", "wait", "results", "cancel"):
        result = run("batch", command, "batch_0000000000000000")
        assert result.exit_code == 1, command
        assert result.stderr.startswith("error: not_found: "), command
        assert result.stderr.count("\n") == 1, command


def test_a_file_that_is_not_utf8_is_refused_before_submitting(run: Any, tmp_path: Path) -> None:
    (tmp_path / "latin1.md").write_bytes("# Caf\xe9\n".encode("latin-1"))
    result = run("batch", "submit", "latin1.md", "--model", "gpt-4o-mini")
    assert result.exit_code == 1
    assert result.stderr == "error: latin1.md is not UTF-8 text\n"


def test_an_option_without_a_value_is_a_usage_error(run: Any, tmp_path: Path) -> None:
    files = write(tmp_path, {"loops.md": DOCUMENTS["loops.md"]})
    result = run("batch", "submit", *files, "--model", "gpt-4o-mini", "--option", "review")
    assert result.exit_code == 2
    assert "is not key=value" in result.stderr
