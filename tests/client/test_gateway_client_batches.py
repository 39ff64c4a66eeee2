"""``GatewayClient``'s batch calls against the real stack. The emulator plays an enhancer
for the gateway's prompts: a plain document passes every check; a directive written in a
document scripts that document's model calls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from client import Batch, Document, GatewayClient, GatewayClientError
from emulator import EmulatorControl, directive
from tests.conftest import KEY_A
from tests.support.processes import Stack

TOOL_LOOPS = """# Tool loops

The worker runs the model's tool calls and sends the results back.

## Limits

A loop stops after max_iterations rounds.
"""
WEBHOOKS = "# Webhooks\n\nThe gateway signs every delivery and retries failed ones.\n"


@pytest.fixture
def gateway(stack: Stack, emulator: EmulatorControl) -> Iterator[GatewayClient]:
    with GatewayClient(stack.api_url, KEY_A) as client:
        yield client


def slow_document(custom_id: str) -> dict[str, str]:
    return {"custom_id": custom_id, "text": f"# Slow\n\n{directive(latency_ms=4000)}\n"}


def test_submit_batch_from_documents_and_dicts_then_wait(
    gateway: GatewayClient, tmp_path: Path
) -> None:
    path = tmp_path / "loops.md"
    path.write_text(TOOL_LOOPS)
    batch = gateway.submit_batch(
        "gpt-4o-mini",
        [Document.from_path(path), {"custom_id": "hooks", "text": WEBHOOKS}],
        metadata={"run": "nightly"},
    )
    assert isinstance(batch, Batch) and batch.id.startswith("batch_")
    assert batch.status == "in_progress" and batch.request_counts.total == 2
    assert batch.results_url == f"/v1/batches/{batch.id}/results"
    seen: list[Batch] = []
    done = gateway.wait_batch(batch.id, timeout=60, poll_seconds=0.2, on_progress=seen.append)
    assert done.status == "completed" and done.ended
    assert done.completed_at is not None
    assert (done.request_counts.succeeded, done.request_counts.completed) == (2, 2)
    assert done.metadata == {"run": "nightly"}
    assert seen and seen[-1] == done


def test_batch_results_are_typed_and_in_submission_order(gateway: GatewayClient) -> None:
    documents = [{"custom_id": "loops.md", "text": TOOL_LOOPS}, {"text": WEBHOOKS}]
    batch = gateway.submit_batch("gpt-4o-mini", documents)
    gateway.wait_batch(batch.id, timeout=60, poll_seconds=0.2)
    results = list(gateway.batch_results(batch.id))
    assert [r.custom_id for r in results] == ["loops.md", "doc-2"]  # 1-based
    first = results[0]
    assert first.status == "succeeded" and first.succeeded_and_valid
    assert first.job_id is not None and gateway.get(first.job_id).batch_id == batch.id
    assert first.result is not None and first.result.validation is not None
    assert first.result.validation.passed
    assert [c.chunk_id for c in first.result.citations] == ["chunk-004", "chunk-011"]
    assert first.result.document.startswith(TOOL_LOOPS.rstrip())


def test_wait_batch_returns_the_running_batch_at_the_timeout(gateway: GatewayClient) -> None:
    batch = gateway.submit_batch("gpt-4o-mini", [slow_document("slow.md")])
    started = time.monotonic()
    waited = gateway.wait_batch(batch.id, timeout=0.5, poll_seconds=0.2)
    assert time.monotonic() - started < 10  # generous: returned at its timeout, not a hang
    assert waited.status == "in_progress" and not waited.ended
    gateway.cancel_batch(batch.id)


def test_cancel_batch_cancels_its_unfinished_documents(gateway: GatewayClient) -> None:
    batch = gateway.submit_batch("gpt-4o-mini", [slow_document("a"), slow_document("b")])
    cancelled = gateway.cancel_batch(batch.id)
    assert cancelled.status in ("cancelling", "cancelled")
    done = gateway.wait_batch(batch.id, timeout=30, poll_seconds=0.2)
    assert done.status == "cancelled" and done.request_counts.cancelled == 2
    assert [r.status for r in gateway.batch_results(batch.id)] == ["cancelled", "cancelled"]
    with pytest.raises(GatewayClientError) as caught:
        gateway.cancel_batch(batch.id)
    assert (caught.value.status_code, caught.value.type) == (409, "conflict")


def test_batches_follows_the_cursor_newest_first(gateway: GatewayClient) -> None:
    ids = [
        gateway.submit_batch("gpt-4o-mini", [{"text": f"# Doc {i}\n\nText.\n"}]).id
        for i in range(3)
    ]
    listed = [b.id for b in gateway.batches(limit=2)]
    assert listed[:3] == ids[::-1]


def test_unknown_batch_raises_not_found(gateway: GatewayClient) -> None:
    for call in (gateway.get_batch, gateway.cancel_batch):
        with pytest.raises(GatewayClientError) as caught:
            call("batch_0000000000000000")
        assert (caught.value.status_code, caught.value.type) == (404, "not_found")
    with pytest.raises(GatewayClientError) as streamed:
        list(gateway.batch_results("batch_0000000000000000"))
    assert streamed.value.status_code == 404


def test_batch_with_an_unknown_model_is_refused(gateway: GatewayClient) -> None:
    with pytest.raises(GatewayClientError) as caught:
        gateway.submit_batch("no-such-model", [{"text": TOOL_LOOPS}])
    assert (caught.value.status_code, caught.value.type) == (400, "model_not_found")


def test_webhook_secrets_are_the_tenants_signing_secrets(gateway: GatewayClient) -> None:
    secrets = gateway.webhook_secrets()
    assert secrets and all(secret.startswith("whsec_") for secret in secrets)
