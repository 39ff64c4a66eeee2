"""Batches through the real stack (Redis, workers, emulator, the search stand-in) with a
real webhook receiver that verifies every delivery with the ``standardwebhooks`` library."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive
from emulator.downstream_content import CHUNKS
from tests.conftest import WEBHOOK_SECRET_A
from tests.support.processes import Stack
from tests.support.webhook_receiver import WebhookReceiver

TOPICS = ("limits", "tools", "webhooks", "redis", "providers", "router", "executor", "jobs")


def document(index: int) -> str:
    topic = TOPICS[index % len(TOPICS)]
    return (
        f"# Notes on {topic} {index}\n\nHow the gateway handles {topic}.\n\n"
        f"## Details\n\nSome details about {topic} and workers.\n\n"
        f"## Open questions\n\nWhat else should we know about {topic}?\n"
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver(WEBHOOK_SECRET_A).start()
    yield running
    running.stop()


def submit(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/batches", json=body)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/batches/{response.json()['id']}"
    return response.json()  # type: ignore[no-any-return]


def wait_batch(client: httpx.Client, batch_id: str, seconds: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        batch = client.get(f"/v1/batches/{batch_id}").json()
        if batch["status"] in ("completed", "cancelled"):
            return batch  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, batch
        time.sleep(0.2)


def results(client: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    with client.stream("GET", f"/v1/batches/{batch_id}/results") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(line) for line in response.iter_lines() if line]


def test_batch_of_24_documents_reports_each_and_completes_once(
    client_a: httpx.Client,
    emulator: EmulatorControl,
    downstream: Stack,
    receiver: WebhookReceiver,
) -> None:
    documents: list[dict[str, Any]] = [
        {"custom_id": f"doc-{i:02d}.md", "text": document(i)} for i in range(24)
    ]
    # One poisoned document: the provider refuses it. It must fail alone.
    documents[7]["text"] += directive(status=400, error="this document is poisoned")
    batch = submit(
        client_a,
        {"model": "gpt-4o-mini", "documents": documents, "webhook": {"url": receiver.url}},
    )
    assert batch["request_counts"]["total"] == 24
    assert batch["status"] == "in_progress"

    # Deliveries run in parallel, so events can arrive in any order (Standard Webhooks
    # promises none); batch.completed is sent once the counts say every document ended.
    receiver.wait_for(lambda: len(receiver.events()) == 25, 120, "24 job events + the batch's")
    job_events = [e for e in receiver.events() if e["type"].startswith("job.")]
    assert len(job_events) == 24
    assert sorted(e["data"]["custom_id"] for e in job_events) == [d["custom_id"] for d in documents]
    failed = [e for e in job_events if e["type"] == "job.failed"]
    assert [e["data"]["custom_id"] for e in failed] == ["doc-07.md"]
    assert failed[0]["data"]["error"]["type"] == "provider_rejected"

    # batch.completed came once, with counts that say every document ended.
    completed = receiver.events("batch.completed")
    assert len(completed) == 1
    summary = completed[0]["data"]
    assert summary["id"] == batch["id"]
    assert summary["request_counts"] | {"validation_failed": 0} == {
        "total": 24,
        "queued": 0,
        "running": 0,
        "succeeded": 23,
        "failed": 1,
        "cancelled": 0,
        "completed": 24,
        "validation_failed": 0,
    }
    assert summary["results_url"].endswith(f"/v1/batches/{batch['id']}/results")
    assert summary["results_url"].startswith("http")

    lines = results(client_a, batch["id"])
    assert [line["custom_id"] for line in lines] == [d["custom_id"] for d in documents]
    for line in lines:
        if line["custom_id"] == "doc-07.md":
            assert line["status"] == "failed" and line["result"] is None
            continue
        assert line["status"] == "succeeded", line
        result = line["result"]
        assert result["validation"]["passed"], result["validation"]
        assert all(c["chunk_id"] in CHUNKS for c in result["citations"])
        assert line["usage"]["total_tokens"] > 0

    final = client_a.get(f"/v1/batches/{batch['id']}").json()
    assert final["status"] == "completed" and final["completed_at"]
    assert final["webhook"]["delivery"]["status"] == "delivered"
    assert final["webhook"]["delivery"]["attempts"][0]["status_code"] == 200


def test_receiver_down_then_up_gets_every_event_with_attempts_recorded(
    client_a: httpx.Client,
    emulator: EmulatorControl,
    downstream: Stack,
    receiver: WebhookReceiver,
) -> None:
    receiver.stop()
    documents = [{"text": document(i)} for i in range(4)]
    batch = submit(
        client_a,
        {
            "model": "gpt-4o-mini",
            "documents": documents,
            "options": {"review": False},
            "webhook": {"url": receiver.url},
        },
    )
    ended = wait_batch(client_a, batch["id"])
    assert ended["status"] == "completed"
    # Down for at least two attempts of every delivery, then back on the same port.
    time.sleep(0.6)
    receiver.start()
    receiver.wait_for(lambda: len(receiver.events()) == 5, 30, "all 5 events")
    lines = results(client_a, batch["id"])
    for line in lines:
        delivery = client_a.get(f"/v1/jobs/{line['job_id']}").json()["webhook"]["delivery"]
        assert delivery["status"] == "delivered"
        attempts = delivery["attempts"]
        assert len(attempts) >= 2
        assert attempts[0]["status_code"] is None
        assert "connection failed" in attempts[0]["error"]
        assert attempts[-1]["status_code"] == 200 and attempts[-1]["error"] is None
    # Retries keep the message id (receivers de-duplicate on it) and the body.
    ids = [d.headers["webhook-id"] for d in receiver.deliveries]
    assert len(set(ids)) == 5


def test_wrong_secret_is_rejected_by_the_receiver(
    client_a: httpx.Client, emulator: EmulatorControl, downstream: Stack
) -> None:
    impostor = WebhookReceiver("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=").start()
    try:
        body = {
            "type": "completion",
            "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            "webhook": {"url": impostor.url},
        }
        job = client_a.post("/v1/jobs", json=body).json()
        impostor.wait_for(lambda: len(impostor.deliveries) >= 2, 20, "two attempts")
        assert not any(d.verified for d in impostor.deliveries)
        assert impostor.deliveries[0].error == "No matching signature found"
        delivery = client_a.get(f"/v1/jobs/{job['id']}").json()["webhook"]["delivery"]
        assert delivery["attempts"][0]["status_code"] == 401
        assert delivery["attempts"][0]["error"] == "HTTP 401"
    finally:
        impostor.stop()


def test_delivery_is_dead_lettered_after_the_last_attempt(
    client_a: httpx.Client, emulator: EmulatorControl, receiver: WebhookReceiver
) -> None:
    receiver.status = 503
    body = {
        "type": "completion",
        "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        "webhook": {"url": receiver.url},
    }
    job = client_a.post("/v1/jobs", json=body).json()
    deadline = time.monotonic() + 30
    while True:
        record = client_a.get(f"/v1/jobs/{job['id']}").json()
        delivery = (record["webhook"] or {}).get("delivery") or {}
        if delivery.get("status") == "dead":
            break
        assert time.monotonic() < deadline, delivery
        time.sleep(0.2)
    # 1 + the 6 waits of the test schedule.
    assert len(delivery["attempts"]) == 7
    assert {a["status_code"] for a in delivery["attempts"]} == {503}
    assert delivery["next_attempt_at"] is None
    assert len(receiver.deliveries) == 7


def test_webhook_signature_verifies_and_event_carries_the_record(
    client_a: httpx.Client, emulator: EmulatorControl, receiver: WebhookReceiver
) -> None:
    body = {
        "type": "completion",
        "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        "webhook": {"url": receiver.url},
    }
    job = client_a.post("/v1/jobs", json=body).json()
    receiver.wait_for(lambda: bool(receiver.events()), 20, "the job's event")
    event = receiver.events()[0]
    assert event["type"] == "job.succeeded"
    assert event["data"]["id"] == job["id"]
    assert event["data"]["result"]["message"]["content"] == "echo: hi"
    headers = receiver.deliveries[0].headers
    assert headers["webhook-id"] == f"msg_{job['id']}"
    assert headers["webhook-signature"].startswith("v1,")
    # The receiver can fetch its secret from the gateway.
    secrets = client_a.get("/v1/webhooks/secret").json()["secrets"]
    assert secrets == [WEBHOOK_SECRET_A]


def test_batch_cancel_cancels_unfinished_documents(
    client_a: httpx.Client, emulator: EmulatorControl, downstream: Stack
) -> None:
    slow = directive(latency_ms=3000)
    documents = [{"text": document(i) + slow} for i in range(6)]
    batch = submit(client_a, {"model": "gpt-4o-mini", "documents": documents})
    time.sleep(0.5)
    response = client_a.post(f"/v1/batches/{batch['id']}/cancel")
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["request_counts"]["cancelled"] == 6
    assert cancelled["cancelled_at"]
    again = client_a.post(f"/v1/batches/{batch['id']}/cancel")
    assert again.status_code == 409
    assert {line["status"] for line in results(client_a, batch["id"])} == {"cancelled"}


def test_another_tenant_cannot_see_a_batch(
    client_a: httpx.Client, client_b: httpx.Client, downstream: Stack
) -> None:
    batch = submit(client_a, {"model": "gpt-4o-mini", "documents": [{"text": "# A\n\nb\n"}]})
    for path in ("", "/results"):
        assert client_b.get(f"/v1/batches/{batch['id']}{path}").status_code == 404
    assert client_b.post(f"/v1/batches/{batch['id']}/cancel").status_code == 404
    assert client_b.get("/v1/batches").json()["data"] == []
    listed = client_a.get("/v1/batches").json()["data"]
    assert [b["id"] for b in listed] == [batch["id"]]


def test_idempotent_batch_resubmission_returns_the_first_batch(
    client_a: httpx.Client, downstream: Stack
) -> None:
    body = {
        "model": "gpt-4o-mini",
        "documents": [{"text": "# A\n\nb\n"}],
        "idempotency_key": "nightly-2026-12-02",
    }
    first = client_a.post("/v1/batches", json=body)
    second = client_a.post("/v1/batches", json=body)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["id"] == second.json()["id"]
    other = client_a.post("/v1/batches", json=body | {"model": "claude-sonnet-4-5"})
    assert other.status_code == 409


def test_job_and_batch_idempotency_keys_do_not_collide(
    client_a: httpx.Client, downstream: Stack
) -> None:
    batch = {"model": "gpt-4o-mini", "documents": [{"text": "# A\n"}], "idempotency_key": "K"}
    first = client_a.post("/v1/batches", json=batch).json()
    job = {
        "type": "completion",
        "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        "idempotency_key": "batch:K",
    }
    assert client_a.post("/v1/jobs", json=job).status_code == 202
    again = client_a.post("/v1/batches", json=batch)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]


@pytest.mark.parametrize(
    ("patch", "status", "param"),
    [
        ({"documents": []}, 422, "documents"),
        ({"documents": [{"text": "a", "url": "http://localhost/a"}]}, 400, "documents[0].document"),
        (
            {"documents": [{"custom_id": "x", "text": "a"}, {"custom_id": "x", "text": "b"}]},
            400,
            "documents[1].custom_id",
        ),
        ({"options": {"review": "maybe"}}, 400, "options.review"),
        ({"options": {"tools": ["nope"]}}, 400, "options.tools"),
        ({"options": {"prompt_version": "v0"}}, 400, "options.prompt_version"),
        ({"model": "no-such-model"}, 400, "model"),
        ({"documents": [{"text": "x" * 1_100_000}]}, 413, "documents[0].document.text"),
        ({"webhook": {"url": "http://127.0.0.1:9/hook"}}, 400, "webhook.url"),
        ({"documents": [{"url": "http://10.0.0.1/a.md"}]}, 400, "documents[0].url"),
        ({"metadata": {"note": "\ud800"}}, 400, "metadata.note"),
    ],
)
def test_bad_batches_are_refused_before_anything_is_queued(
    client_a: httpx.Client, patch: dict[str, Any], status: int, param: str
) -> None:
    body = {"model": "gpt-4o-mini", "documents": [{"text": "# A\n\nb\n"}]} | patch
    # json.dumps escapes a lone surrogate (\ud800) as JSON allows; httpx's json= cannot.
    content = json.dumps(body).encode()
    response = client_a.post(
        "/v1/batches", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param
    assert client_a.get("/v1/batches").json()["data"] == []
    assert client_a.get("/v1/jobs").json()["data"] == []
