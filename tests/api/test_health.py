"""Liveness and readiness."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx

from tests.support.processes import Process, RedisServer, Stack, free_port, wait_until


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
    assert body["queue_workers"]["llm.openai"] >= 1
    assert body["queue_workers"]["llm.standby"] == 0
    assert "llm.standby" in body["missing_workers"] and "llm.openai" not in body["missing_workers"]


def test_ready_without_any_worker_stays_ready_and_names_the_missing_queues(
    tmp_path: Path,
) -> None:
    """No worker alive must not take the API out of its Service: it still accepts jobs
    (they wait in their queues) and serves their status."""
    server = RedisServer(free_port(), tmp_path / "redis", tmp_path / "redis.log").start()
    port = free_port()
    env = {**os.environ, "LLM_GATEWAY_REDIS_URL": server.url, "LLM_GATEWAY_AUTH_DISABLED": "true"}
    argv = [sys.executable, "-m", "cli", "api", "--port", str(port)]
    api = Process("api", argv, env, tmp_path / "api.log").start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/health").status_code == 200, 30, "api")
        ready = httpx.get(f"{url}/health/ready")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready" and body["workers"] == 0
        assert body["queue_workers"]["llm.tools"] == 0
        assert body["queues"]["llm.tools"] is False
        assert {"llm.tools", "llm.webhooks"} <= set(body["missing_workers"])
        assert set(body["missing_workers"]) == set(body["queue_workers"])
    finally:
        api.stop()
        server.stop()


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
