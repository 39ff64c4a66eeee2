"""The completion hub: one subscription, many waiters, nothing missed."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from gateway.errors import NotFound
from tasks.jobs.completion_hub import Completion
from tasks.jobs.store import JobStore, record_from_notice
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


def _notices(pubsub: redis.client.PubSub, wanted: set[str], timeout: float) -> dict[str, bytes]:
    """The job-done notices of the ``wanted`` job ids, by id."""
    found: dict[str, bytes] = {}
    deadline = time.monotonic() + timeout
    while not wanted <= found.keys() and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message and isinstance(message.get("data"), bytes):
            job_id = message["data"].split(b" ", 1)[0].decode()
            found[job_id] = message["data"]
    return found


def test_a_small_finished_record_rides_on_its_notice_and_a_big_one_does_not(
    stack: Stack, client_a: httpx.Client
) -> None:
    client = redis.Redis.from_url(stack.redis.url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("llmgw:events:job-done")
    big_text = "x" * 20_000
    small = client_a.post("/v1/chat/completions", json=job_body("hello")["request"])
    big = client_a.post(
        "/v1/chat/completions",
        json=job_body(f"<<emulator:{json.dumps({'reply': big_text})}>>")["request"],
    )
    assert small.status_code == big.status_code == 200
    small_id, big_id = (r.headers["x-llm-gateway-job-id"] for r in (small, big))
    notices = _notices(pubsub, {small_id, big_id}, timeout=10)
    pubsub.close()
    client.close()

    # The small one: "<id> <status> <record as field, value, ...>", the record as stored.
    job_id, status, record = notices[small_id].split(b" ", 2)
    flat = json.loads(record)
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    assert (job_id.decode(), status) == (small_id, b"succeeded")
    assert fields["status"] == "succeeded"
    answer = small.json()["choices"][0]["message"]["content"]
    assert json.loads(fields["result"])["message"]["content"] == answer
    # The big one: id and status only; the API read the record, and the answer is whole.
    assert notices[big_id] == f"{big_id} succeeded".encode()
    assert big.json()["choices"][0]["message"]["content"].endswith(big_text)


@pytest.mark.parametrize(
    "notice",
    [b"", b"not json", b'["id"]', b'{"id": "job_1"}', b'["id", "job_1", "status", "running"]'],
)
def test_a_notice_record_that_does_not_read_as_a_finished_job_is_not_used(notice: bytes) -> None:
    assert record_from_notice(notice) is None


def test_arecord_from_notice_of_another_tenant_or_job_is_not_used(
    isolated_redis: redis.Redis,
) -> None:
    url = isolated_redis.get_connection_kwargs()
    fields = {
        "id": "job_1",
        "type": "completion",
        "status": "succeeded",
        "tenant": "tenant-a",
        "created_at": "1.0",
        "request": "{}",
    }
    notice = json.dumps([part for pair in fields.items() for part in pair]).encode()
    assert record_from_notice(notice) is not None

    async def read(job_id: str, tenant: str) -> str:
        client = AsyncRedis(host=url["host"], port=url["port"], db=url["db"])
        try:
            completion = Completion()
            completion.record = notice
            return (await JobStore(client, 60).get_finished(job_id, tenant, completion)).id
        finally:
            await client.aclose()

    assert asyncio.run(read("job_1", "tenant-a")) == "job_1"
    # Not in Redis either: reading it back finds nothing, as for any unknown job.
    for job_id, tenant in (("job_1", "tenant-b"), ("job_2", "tenant-a")):
        with pytest.raises(NotFound):
            asyncio.run(read(job_id, tenant))
