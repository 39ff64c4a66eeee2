"""Doing the bad thing to webhook delivery: the webhook worker killed with SIGKILL while
its attempts are in flight loses no event; a duplicate delivery message records nothing
twice."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from emulator import EmulatorControl
from gateway import keys
from gateway.outbound import OutboundPolicy
from tasks.webhooks.deliveries import WebhookDeliverer
from tasks.webhooks.secrets import WebhookSecrets
from tests.conftest import WEBHOOK_SECRET_A
from tests.support.processes import Stack, wait_until
from tests.support.webhook_receiver import WebhookReceiver

COMPLETION = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def slow_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(WEBHOOK_SECRET_A, delay_seconds=2.0).start()
    yield receiver
    receiver.stop()


def test_sigkilled_webhook_worker_loses_no_event(
    stack: Stack,
    emulator: EmulatorControl,
    client_a: httpx.Client,
    slow_receiver: WebhookReceiver,
) -> None:
    body = {"type": "completion", "request": COMPLETION, "webhook": {"url": slow_receiver.url}}
    ids = [client_a.post("/v1/jobs", json=body).json()["id"] for _ in range(6)]
    # Attempts are in flight (the receiver takes 2 s to answer) when the worker dies.
    slow_receiver.wait_for(lambda: len(slow_receiver.deliveries) >= 1, 20, "a first request")
    stack.processes["webhooks"].kill()
    stack.start_worker("webhooks", "llm.webhooks")
    slow_receiver.delay_seconds = 0
    slow_receiver.wait_for(lambda: len(slow_receiver.events()) == 6, 40, "all 6 events")
    assert sorted(e["data"]["id"] for e in slow_receiver.events()) == sorted(ids)

    def delivered() -> bool:
        records = [client_a.get(f"/v1/jobs/{i}").json() for i in ids]
        return all(r["webhook"]["delivery"]["status"] == "delivered" for r in records)

    wait_until(delivered, 20, "every delivery recorded as delivered")


def test_a_duplicate_delivery_message_records_one_attempt(
    isolated_redis: redis.Redis, stack: Stack
) -> None:
    receiver = WebhookReceiver(WEBHOOK_SECRET_A).start()
    try:
        isolated_redis.hset(
            keys.job("job_dup"),
            mapping={
                "id": "job_dup",
                "tenant": "tenant_a",
                "type": "completion",
                "status": "succeeded",
                "request": "{}",
                "created_at": "1",
                "finished_at": "2",
                "webhook": f'{{"url": "{receiver.url}"}}',
                "wh_status": "pending",
                "wh_event": "job.succeeded",
                "wh_attempt_count": "0",
            },
        )
        isolated_redis.zadd(keys.WEBHOOKS_DUE, {"job:job_dup": 0})
        settings_secrets = WebhookSecrets(listed={"tenant_a": (WEBHOOK_SECRET_A,)})
        with httpx.Client() as http:
            deliverer = WebhookDeliverer(
                redis=isolated_redis,
                secrets=settings_secrets,
                policy=OutboundPolicy.from_allowlist("localhost"),
                http=http,
                schedule=(60.0,),
                lease_seconds=5,
                public_url="http://gateway.example",
            )
            assert deliverer.pump() == 1
            assert deliverer.pump() == 0  # handed out: not due again within its lease
            assert deliverer.deliver("job:job_dup") == "delivered"
            assert deliverer.deliver("job:job_dup") == "delivered"  # the duplicate message
        assert len(receiver.deliveries) == 1
        assert isolated_redis.hget(keys.job("job_dup"), "wh_attempt_count") == b"1"
        assert isolated_redis.zscore(keys.WEBHOOKS_DUE, "job:job_dup") is None
        assert deliverer.deliver("job:gone") == "gone"
    finally:
        receiver.stop()


def test_webhook_queue_consumer_is_reported_by_readiness(stack: Stack) -> None:
    ready = httpx.get(f"{stack.api_url}/health/ready").json()
    assert ready["queues"]["llm.webhooks"] is True
