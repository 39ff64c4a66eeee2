"""Webhook deliveries: at least once, signed (Standard Webhooks), with backoff over hours.

A job or batch that asked for a webhook has its delivery scheduled the moment it ends, in
the same script (``on_terminal.lua``): a member ``job:<id>`` / ``batch:<id>`` in
``keys.WEBHOOKS_DUE``, and ``wh_*`` fields on its record that hold the delivery's state and
every attempt. Webhook workers (queue ``llm.webhooks``):

- **pump**: due deliveries are re-scored a lease ahead and a ``llm.deliver_webhook``
  message is pushed for each; a worker that dies mid-attempt only delays that delivery by
  the lease, it never loses it;
- **deliver**: one attempt — the event is built from the (terminal, so unchanging) record,
  signed with each of the tenant's secrets, its URL checked against the outbound policy
  again, and POSTed without following redirects. A 2xx delivers it; anything else is
  recorded and retried after the next wait of the schedule; after the last attempt the
  delivery is dead-lettered (``keys.WEBHOOKS_DEAD``). Recording is a compare-and-set on
  the attempt count, so a duplicate message can never record an attempt twice.

The ``webhook-id`` is the same on every attempt (``msg_<id>``), so receivers de-duplicate.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import structlog
from redis import Redis
from standardwebhooks.webhooks import Webhook

from gateway import keys
from gateway.due_set import Pumped
from gateway.errors import UrlNotAllowed
from gateway.outbound import OutboundPolicy
from gateway.outbound_http import overall_deadline
from gateway.redis_replies import text
from tasks.batches.record import BatchRecord
from tasks.jobs.messages import TaskMessageBuilder
from tasks.jobs.record import JobRecord, iso
from tasks.webhooks.delivery_scripts import DeliveryScripts
from tasks.webhooks.secrets import WebhookSecrets

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """One event to deliver: where, for which tenant, and the signed body."""

    key: str
    tenant: str
    url: str
    message_id: str
    body: bytes
    status: str
    attempt_count: int


@dataclass(kw_only=True)
class WebhookDeliverer:
    """Pumps due deliveries onto the webhook queue and makes single attempts."""

    redis: Redis
    secrets: WebhookSecrets
    policy: OutboundPolicy
    http: httpx.Client
    schedule: tuple[float, ...]
    lease_seconds: float
    public_url: str
    # The longest one attempt may take, connect to response headers.
    attempt_seconds: float = 10.0
    messages: TaskMessageBuilder = field(default_factory=TaskMessageBuilder)
    _scripts: DeliveryScripts = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._scripts = DeliveryScripts(self.redis)

    def pump(self, limit: int = 200) -> Pumped:
        """Queue a delivery message for each due delivery: how many, and when the next
        delivery is due."""
        due, next_due_ms = self._scripts.take_due(limit, int(self.lease_seconds * 1000))
        if due:
            pipe = self.redis.pipeline(transaction=False)
            for member in due:
                message = self.messages.deliver_webhook(text(member))
                pipe.lpush(message.key, message.payload)
            pipe.execute()
        return Pumped.from_reply(len(due), next_due_ms)

    def deliver(self, target: str) -> str:
        """One attempt at ``target`` ("job:<id>" / "batch:<id>"); returns the outcome."""
        event = self._event(target)
        if event is None:
            self.redis.zrem(keys.WEBHOOKS_DUE, target)
            return "gone"
        if event.status != "pending":
            return event.status
        started, clock = time.time(), time.perf_counter()
        status_code, error = self._post(event)
        attempt = {
            "at": iso(started),
            "status_code": status_code,
            "error": error,
            "duration_ms": round((time.perf_counter() - clock) * 1000, 1),
        }
        if error is None:
            outcome, delay = "delivered", 0.0
        elif event.attempt_count >= len(self.schedule):
            outcome, delay = "dead", 0.0
        else:
            # ±10% jitter: receivers coming back are not hit by every retry at once.
            delay = self.schedule[event.attempt_count] * random.uniform(0.9, 1.1)
            outcome = "retry"
        recorded = self._scripts.record(
            event.key,
            target,
            attempt_count=event.attempt_count,
            attempt=orjson.dumps(attempt),
            outcome=outcome,
            retry_ms=int(delay * 1000),
        )
        log.info(
            "webhook_attempt",
            target=target,
            outcome=outcome,
            status_code=status_code,
            error=error,
            attempt=event.attempt_count + 1,
            recorded=recorded,
        )
        return outcome

    def _post(self, event: Event) -> tuple[int | None, str | None]:
        """(status code, error); error None means delivered."""
        secrets = self.secrets.for_tenant(event.tenant)
        if not secrets:
            return None, "no webhook signing secret is configured for the tenant"
        try:
            self.policy.check_url(event.url, param="webhook.url")
            now = datetime.now(UTC)
            text = event.body.decode()
            signature = " ".join(Webhook(s).sign(event.message_id, now, text) for s in secrets)
            headers = {
                "content-type": "application/json",
                "user-agent": "llm-gateway-webhooks/1",
                "webhook-id": event.message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature,
            }
            # Streamed and closed unread: a receiver's response body is never downloaded.
            # One deadline for the whole attempt: a receiver that drips bytes cannot hold
            # a worker thread past it (httpx's timeouts are per read).
            with (
                overall_deadline(self.attempt_seconds),
                self.http.stream("POST", event.url, content=event.body, headers=headers) as r,
            ):
                status = r.status_code
        except UrlNotAllowed as exc:
            return None, exc.message
        except httpx.TimeoutException:
            return None, "timed out"
        except httpx.HTTPError as exc:
            return None, f"connection failed ({type(exc).__name__})"
        if 200 <= status < 300:
            return status, None
        return status, f"HTTP {status}" + (" (redirects are not followed)" if status < 400 else "")

    def _event(self, target: str) -> Event | None:
        kind, _, subject = target.partition(":")
        if kind == "job":
            raw = self.redis.hgetall(keys.job(subject))
            if not raw:
                return None
            job = JobRecord.from_redis(raw)
            data = job.public()
            return self._built(keys.job(subject), job, data, job.finished_at)
        if kind == "batch":
            raw = self.redis.hgetall(keys.batch(subject))
            if not raw:
                return None
            batch = BatchRecord.from_redis(raw)
            data = batch.public(queued=0, running=0)
            data["results_url"] = self.public_url.rstrip("/") + data["results_url"]
            return self._built(keys.batch(subject), batch, data, batch.ended_at)
        return None

    def _built(
        self, key: str, record: JobRecord | BatchRecord, data: dict[str, Any], at: float | None
    ) -> Event:
        url = str((record.webhook or {}).get("url", ""))
        # The delivery's own progress is not part of the event: every attempt sends the
        # same body.
        data["webhook"] = {"url": url}
        body = orjson.dumps({"type": record.wh_event, "timestamp": iso(at), "data": data})
        return Event(
            key=key,
            tenant=record.tenant,
            url=url,
            message_id=f"msg_{record.id}",
            body=body,
            status=record.wh_status or "",
            attempt_count=record.wh_attempt_count or 0,
        )
