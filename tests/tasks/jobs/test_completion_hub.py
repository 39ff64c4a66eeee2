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
    # Ten waiters add no subscription: the API process keeps its one (other API processes
    # on this Redis, such as the storage tests', hold their own).
    assert during == before >= 1


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


def test_reconnect_wakes_waiters_whose_job_finished_unannounced(stack: Stack) -> None:
    """A completion published while the hub was disconnected is gone; the re-check after
    reconnecting must find the finished record anyway."""
    import asyncio

    from redis.asyncio import Redis as AsyncRedis

    from tasks.jobs.completion_hub import CompletionHub
    from tasks.jobs.store import JobStore

    async def scenario() -> bool:
        client = AsyncRedis.from_url(stack.redis.url)
        hub = CompletionHub(client, JobStore(client, 60).are_terminal)
        await hub.start()
        try:
            with hub.watch("job_unannounced") as finished:
                await client.hset("llmgw:job:job_unannounced", mapping={"status": "running"})
                # Finish the job without any PUBLISH, then cut the subscription.
                await client.hset("llmgw:job:job_unannounced", "status", "succeeded")
                await client.client_kill_filter(_type="pubsub")
                await asyncio.wait_for(finished.wait(), timeout=10)
                return True
        finally:
            await hub.stop()
            await client.delete("llmgw:job:job_unannounced")
            await client.aclose()

    assert asyncio.run(scenario())
