"""Tenant budgets and rate limits, enforced at submission across API processes: three real
API processes on one Redis, sharing the session's workers."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive
from tests.conftest import KEY_A, KEY_B
from tests.support.processes import Stack, free_port, wait_until

BUDGET_USD = 0.01
LIMITS = {"tenant_a": {"daily_budget_usd": BUDGET_USD}, "tenant_b": {"rpm": 3, "tpm": 100_000}}
# gpt-4o-mini's catalogue price is 0.60 USD per million output tokens: 0.003 USD a reply.
EXPENSIVE = directive(usage={"prompt_tokens": 10, "completion_tokens": 5000})


@pytest.fixture(scope="module")
def limited_apis(stack: Stack) -> Iterator[list[str]]:
    env = {"LLM_GATEWAY_TENANT_LIMITS": json.dumps(LIMITS)}
    names = [f"limited-api-{i}" for i in range(3)]
    # Started together, waited for generously: three imports at once on a busy machine.
    ports = [free_port() for _ in names]
    for name, port in zip(names, ports, strict=True):
        stack.spawn(name, [sys.executable, "-m", "cli", "api", "--port", str(port)], env)
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    for name, url in zip(names, urls, strict=True):
        wait_until(lambda u=url: httpx.get(f"{u}/health").status_code == 200, 120, name)
    yield urls
    for name in names:
        stack.stop_process(name)


def _client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_a_one_cent_budget_admits_nothing_once_spent_across_three_api_processes(
    limited_apis: list[str], emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    admitted: list[str] = []
    refusals: list[dict[str, Any]] = []
    lock = threading.Lock()

    def spend(url: str) -> None:
        with _client(url, KEY_A) as client:
            for _ in range(20):
                body = {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": EXPENSIVE}],
                }
                response = client.post("/v1/chat/completions", json=body)
                with lock:
                    if response.status_code == 402:
                        refusals.append(response.json()["error"])
                        return
                    assert response.status_code == 200, response.text
                    admitted.append(response.headers["x-llm-gateway-job-id"])

    threads = [threading.Thread(target=spend, args=(url,)) for url in limited_apis]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert len(refusals) == 3, (admitted, refusals)
    assert {(r["type"], r["param"]) for r in refusals} == {("budget_exceeded", "daily_budget_usd")}

    jobs = [client_a.get(f"/v1/jobs/{job_id}").json() for job_id in admitted]
    spent = sum(j["cost_usd"] for j in jobs)
    # Enough was spent, and at most one request per process was in flight past the line.
    assert BUDGET_USD <= spent < BUDGET_USD + 3 * 0.0031
    # No job was admitted once the jobs that had finished before it had spent the budget.
    for job in jobs:
        before = sum(j["cost_usd"] for j in jobs if _at(j["finished_at"]) < _at(job["created_at"]))
        assert before < BUDGET_USD, (job["id"], before)
    # Every process refuses from now on, and the usage endpoint says why.
    for url in limited_apis:
        with _client(url, KEY_A) as client:
            response = client.post(
                "/v1/jobs",
                json={
                    "type": "completion",
                    "request": {
                        "model": "gpt-4o-mini",
                        "messages": [{"role": "user", "content": "one more"}],
                    },
                },
            )
            assert response.status_code == 402
            usage = client.get("/v1/usage").json()
            budget = usage["limits"]["daily_budget"]
            assert budget["limit_usd"] == BUDGET_USD and budget["remaining_usd"] == 0
            assert abs(budget["spent_usd"] - spent) < 1e-8


def test_rpm_is_exact_across_processes_and_answers_429_with_retry_after(
    limited_apis: list[str], emulator: EmulatorControl
) -> None:
    statuses = []
    for i in range(4):
        with _client(limited_apis[i % 3], KEY_B) as client:
            body = {
                "type": "completion",
                "request": {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": f"n{i}"}],
                },
            }
            response = client.post("/v1/jobs", json=body)
            statuses.append(response.status_code)
    assert statuses == [202, 202, 202, 429]
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("rate_limit_exceeded", "rpm")
    assert 1 <= int(response.headers["retry-after"]) <= 20
    with _client(limited_apis[0], KEY_B) as client:
        limits = client.get("/v1/usage").json()["limits"]
    assert (limits["rpm"], limits["tpm"], limits["daily_budget"]) == (3, 100_000, None)


def test_a_batch_takes_one_request_a_document(
    limited_apis: list[str], emulator: EmulatorControl
) -> None:
    """rpm 3, one request made: a batch of 4 documents does not fit in the 2 left (a
    batch bigger than a minute's worth waits for a full bucket) and is refused whole."""
    documents = [{"text": f"# Doc {i}\n\nbody\n"} for i in range(4)]
    job = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "first"}]}
    with _client(limited_apis[1], KEY_B) as client:
        response = client.post("/v1/jobs", json={"type": "completion", "request": job})
        assert response.status_code == 202
        response = client.post("/v1/batches", json={"model": "gpt-4o-mini", "documents": documents})
        assert response.status_code == 429, response.text
        assert response.json()["error"]["param"] == "rpm"
        assert client.get("/v1/batches").json()["data"] == []


def test_a_tenant_without_limits_is_not_limited(limited_apis: list[str], stack: Stack) -> None:
    """tenant_a's budget does not apply on the session's API, which has no limits set."""
    with _client(stack.api_url, KEY_A) as client:
        assert client.get("/v1/usage").json()["limits"]["daily_budget"] is None
