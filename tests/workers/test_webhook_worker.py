"""Doing the bad thing to webhook delivery: the webhook worker killed with SIGKILL while
its attempts are in flight loses no event; a duplicate delivery message records nothing
twice; a receiver down for a few seconds gets its event seconds after it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import redis

from emulator import EmulatorControl
from gateway import keys
from gateway.outbound import OutboundPolicy
from gateway.settings import Settings
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
            assert deliverer.pump().count == 1
            pumped = deliverer.pump()
            assert pumped.count == 0  # handed out: not due again within its lease
            # ... and due again when the lease ends, so the pump sleeps no longer than that.
            assert pumped.next_due_seconds is not None and 0 < pumped.next_due_seconds <= 5
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


@pytest.fixture
def shipped_schedule(stack: Stack) -> Iterator[Stack]:
    """The webhook worker with the shipped retry schedule instead of the tests' quick one;
    the usual one is back afterwards."""
    variable = "LLM_GATEWAY_WEBHOOK_RETRY_SCHEDULE"
    quick = stack.env[variable]
    stack.processes.pop("webhooks").stop()
    stack.env[variable] = Settings.model_fields["webhook_retry_schedule"].default
    try:
        stack.start_worker("webhooks", "llm.webhooks")
        yield stack
    finally:
        stack.env[variable] = quick
        stack.processes.pop("webhooks").stop()
        stack.start_worker("webhooks", "llm.webhooks")


def test_a_receiver_down_for_12_seconds_has_its_event_well_within_a_minute(
    shipped_schedule: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    receiver = WebhookReceiver(WEBHOOK_SECRET_A)  # not started: connections are refused
    try:
        body = {"type": "completion", "request": COMPLETION, "webhook": {"url": receiver.url}}
        job_id = client_a.post("/v1/jobs", json=body).json()["id"]
        done = client_a.get(f"/v1/jobs/{job_id}/wait", params={"timeout": 20}).json()
        assert done["status"] == "succeeded"
        time.sleep(12)  # the outage
        receiver.start()
        receiver.wait_for(lambda: len(receiver.events()) == 1, 50, "the event")
    finally:
        receiver.stop()
    assert receiver.events()[0]["data"]["id"] == job_id

    def delivery() -> dict[str, Any]:
        record: dict[str, Any] = client_a.get(f"/v1/jobs/{job_id}").json()
        return record["webhook"]["delivery"]  # type: ignore[no-any-return]

    wait_until(lambda: delivery()["status"] == "delivered", 10, "the delivery recorded")
    attempts = delivery()["attempts"]
    assert [a["status_code"] for a in attempts[:-1]] == [None] * (len(attempts) - 1)
    assert attempts[-1]["status_code"] == 200 and len(attempts) >= 3
    # Retries 1 s, 5 s, 15 s after the failures: delivered about 21 s after the job ended.
    # Svix's 5s-then-5m schedule, the old default, delivered it after 5 min.
    late = _at(delivery()["delivered_at"]) - _at(done["finished_at"])
    assert late < 45, attempts


def _at(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
