"""The completion hub: one subscription, many waiters, nothing missed."""

from __future__ import annotations

import threading
import time

import httpx
import redis

from tests.support.processes import Stack


def job_body(text: str) -> dict[str, object]:
    return {
        "type": "completion",
        "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
    }


def test_waiters_share_one_subscription(stack: Stack, client_a: httpx.Client) -> None:
    client = redis.Redis.from_url(stack.redis.url)
    before = client.pubsub_numsub("llmgw:events:job-done")[0][1]
    ids = [
        client_a.post("/v1/jobs", json=job_body('<<emulator:{"latency_ms": 800}>>')).json()["id"]
        for _ in range(10)
    ]
    results: list[int] = []

    def wait(job_id: str) -> None:
        results.append(client_a.get(f"/v1/jobs/{job_id}/wait", params={"timeout": 10}).status_code)

    threads = [threading.Thread(target=wait, args=(j,)) for j in ids]
    for t in threads:
        t.start()
    time.sleep(0.3)
    during = client.pubsub_numsub("llmgw:events:job-done")[0][1]
    for t in threads:
        t.join()
    client.close()
    assert results == [200] * 10
    assert during == before == 1  # the API process's single subscription


def test_wait_survives_the_subscription_being_killed(stack: Stack, client_a: httpx.Client) -> None:
    job_id = client_a.post("/v1/jobs", json=job_body('<<emulator:{"latency_ms": 1500}>>')).json()[
        "id"
    ]
    outcome: list[httpx.Response] = []
    waiter = threading.Thread(
        target=lambda: outcome.append(
            client_a.get(f"/v1/jobs/{job_id}/wait", params={"timeout": 15})
        )
    )
    waiter.start()
    time.sleep(0.3)
    client = redis.Redis.from_url(stack.redis.url)
    killed = client.client_kill_filter(_type="pubsub")
    client.close()
    waiter.join()
    assert killed >= 1
    assert outcome[0].status_code == 200
    assert outcome[0].json()["status"] == "succeeded"
