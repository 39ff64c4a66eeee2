"""Liveness and readiness."""

from __future__ import annotations

import httpx

from tests.support.processes import Stack


def test_health_is_ok_without_auth(stack: Stack) -> None:
    response = httpx.get(f"{stack.api_url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


def test_ready_reports_redis_workers_and_queue_coverage(stack: Stack) -> None:
    body = httpx.get(f"{stack.api_url}/health/ready").json()
    assert body["status"] == "ready"
    assert body["redis"] == "ok"
    assert body["workers"] >= 2
    assert body["queues"]["llm.openai"] is True and body["queues"]["llm.anthropic"] is True
    assert body["queues"]["llm.standby"] is False  # nothing consumes it in the test stack
    assert body["queues"]["llm.tools"] is True


def test_request_id_is_echoed_when_supplied(stack: Stack) -> None:
    response = httpx.get(f"{stack.api_url}/health", headers={"X-Request-ID": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"


def test_metrics_exposes_request_and_job_counters(stack: Stack, client_a: httpx.Client) -> None:
    body = {
        "type": "completion",
        "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "m"}]},
    }
    client_a.post("/v1/jobs", json=body)
    text = httpx.get(f"{stack.api_url}/metrics").text
    assert 'llm_gateway_jobs_submitted_total{provider="openai",type="completion"}' in text
    assert 'route="/v1/jobs"' in text
    assert "llm_gateway_waiters" in text
