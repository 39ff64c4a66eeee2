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
    assert body["queues"] == {"llm.openai": True, "llm.anthropic": True}


def test_request_id_is_echoed_when_supplied(stack: Stack) -> None:
    response = httpx.get(f"{stack.api_url}/health", headers={"X-Request-ID": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
