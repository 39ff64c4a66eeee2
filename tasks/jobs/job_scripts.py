"""``JobScripts``: the job record's Lua (``tasks/jobs/scripts/*.lua``), one typed method per
script, each owning its KEYS and ARGV order.

**Submit** creates a record and pushes its message in one step; **transition** moves a job
between statuses whatever its lease (a client's cancel). Running jobs hold leases; jobs
that must wait sit in a deferred set. Both live in Redis and every step is one Lua script
on Redis's own clock, so no worker's clock matters. Every script that ends a job runs
``scripts/on_terminal.lua`` in the same step (webhook scheduling, batch counters).

- **Claim** moves ``queued`` → ``running`` and writes a lease: a random token in the record
  and an expiry in ``llmgw:running``. A running job whose lease is still live is not
  claimed again, so a duplicate delivery never runs a job twice at the same time.
  **Claim, admitting** does the same and, for a job whose record says what its first
  provider call needs (``first_call``), admits that call in the same step.
- **Renew**: each worker extends the leases of the jobs it is running, every third of the
  lease. A worker killed with SIGKILL stops renewing.
- **Reap**: any worker moves a job whose lease lapsed (half a lease ago, a grace for a
  worker that was only cut off from Redis) back to ``queued`` and pushes its Celery
  message to the front of its queue, so another worker re-runs it within about 1.5 lease
  periods (not the broker's one-hour visibility timeout). A job that keeps losing its
  worker is failed after ``max_attempts`` recoveries instead of crashing workers forever.
- **Finish / requeue** succeed only for the lease holder: a worker that lost its lease
  (reaped while stalled) cannot overwrite what the new holder does.
- **Attempts** are counted as they start (**start attempt**, lease holder only): a call a
  killed worker had in flight stays counted, and a job cancelled or taken over is not
  called (a provider call's attempt is counted by its admission,
  ``limits/scripts/acquire_attempt.lua``). **Paid reply**: every reply's usage and cost
  is added to the record, whoever holds the job, so a reply that lands after its lease
  was lost is not dropped; **finish paid** does that and **finish** in one step, for a
  final answer.
- **Defer**: a job that must wait (provider limits, backoff after an error) is put in
  ``llmgw:deferred`` with the time it may run, and its message is acknowledged; the
  worker slot is free at once. **Pump**: workers push due jobs' messages back onto the
  front of their queues. The message to push is kept in the record (``message``,
  ``message_key``) until the job ends, so nothing has to be rebuilt outside the script,
  and nothing is lost if a worker dies between steps.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from gateway import keys
from gateway.lua import register
from limits.capacity_scripts import ReleaseCall, limit_keys
from tasks.jobs.messages import TaskMessage
from tasks.jobs.record import JobStatus, encode_field
from tasks.usage.counters import nano_usd


@dataclass(frozen=True, slots=True)
class PaidReply:
    """One provider reply that was paid for: what it used and cost, and where."""

    job_id: str
    tenant: str
    instance: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    reply_id: str
    # When it landed (epoch seconds): the UTC day and month it is counted in.
    at: float = field(default_factory=time.time)


def _pairs(fields: Mapping[str, Any] | None) -> list[str]:
    """Field/value ARGV pairs; ``""`` (a ``None`` value) deletes the field."""
    out: list[str] = []
    for name, value in (fields or {}).items():
        out += [name, "" if value is None else encode_field(name, value)]
    return out


def _paid_keys(reply: PaidReply) -> list[str]:
    """``record_paid.lua``'s keys: the job, the tenant's day and month, the all-time
    counters, the tenant's rate buckets."""
    day = time.strftime("%Y-%m-%d", time.gmtime(reply.at))
    return [
        keys.job(reply.job_id),
        keys.usage_day(reply.tenant, day),
        keys.usage_month(reply.tenant, day[:7]),
        keys.USAGE_COUNTERS,
        keys.tenant_rate(reply.tenant),
    ]


def _paid_args(reply: PaidReply, retention_seconds: int) -> list[str | int]:
    """``record_paid.lua``'s nine ARGV of one reply."""
    return [
        reply.prompt_tokens,
        reply.completion_tokens,
        "" if reply.cost_usd is None else repr(reply.cost_usd),
        reply.reply_id,
        reply.tenant,
        reply.instance,
        reply.model,
        nano_usd(reply.cost_usd),
        retention_seconds,
    ]


class JobScripts:
    """The job scripts, registered once on one client. Each method returns the script's
    reply (an awaitable of it on an asyncio client)."""

    def __init__(self, redis: Redis | AsyncRedis) -> None:
        def script(name: str) -> Any:
            return register(redis, f"tasks/jobs/scripts/{name}.lua")

        self._submit = script("submit")
        self._submit_finished = script("submit_finished")
        self._transition = script("transition")
        self._claim = script("claim")
        self._claim_admit = script("claim_admit")
        self._finish = script("finish")
        self._finish_paid = script("finish_paid")
        self._finish_paid_release = script("finish_paid_release")
        self._finish_in_session = script("finish_in_session")
        self._checkpoint = script("checkpoint")
        self._requeue = script("requeue")
        self._renew = script("renew")
        self._reap = script("reap")
        self._pump = script("pump")
        self._stream_append = script("stream_append")
        self._start_attempt = script("start_attempt")
        self._paid_reply = script("paid_reply")

    def submit(
        self,
        job_id: str,
        tenant: str,
        *,
        idempotency_key: str | None,
        message: TaskMessage,
        fields: Mapping[str, str],
        ttl_seconds: int,
        expired_below: str,
        client: Any = None,
    ) -> Any:
        """Store a new record and push its message: {1, id}, or {0, existing id} when the
        idempotency key names a live job. ``expired_below``: the tenant index's lex bound
        below which entries expired. ``client``: another connection to run it on (the one a
        ``WAIT`` then follows)."""
        idem = keys.idempotency(tenant, idempotency_key) if idempotency_key else ""
        flat = [part for pair in fields.items() for part in pair]
        return self._submit(
            keys=[keys.job(job_id), keys.tenant_jobs(tenant), idem, message.key],
            args=[ttl_seconds, 0, job_id, expired_below, message.payload, *flat],
            client=client,
        )

    def submit_finished(
        self,
        job_id: str,
        tenant: str,
        *,
        idempotency_key: str | None,
        status: JobStatus,
        fields: Mapping[str, str],
        ttl_seconds: int,
        expired_below: str,
        client: Any = None,
    ) -> Any:
        """Store a record that is already ``status`` (terminal) and queue nothing: a
        response-cache hit. Replies as ``submit``; the job's webhook is scheduled as any
        finished job's is, and it is not counted in the usage counters."""
        idem = keys.idempotency(tenant, idempotency_key) if idempotency_key else ""
        flat = [part for pair in fields.items() for part in pair]
        return self._submit_finished(
            keys=[keys.job(job_id), keys.tenant_jobs(tenant), idem, keys.WEBHOOKS_DUE],
            args=[ttl_seconds, job_id, expired_below, status.value, *flat],
            client=client,
        )

    def transition(
        self,
        job_id: str,
        allowed: Iterable[JobStatus],
        new: JobStatus,
        *,
        failures_increment: int = 0,
        fields: Mapping[str, Any] | None = None,
    ) -> Any:
        """Move ``allowed`` → ``new`` whatever the lease: {1, new}, {0, current} or
        {-1, ""}; a terminal ``new`` is announced on ``keys.JOB_DONE_CHANNEL``."""
        return self._transition(
            keys=[keys.job(job_id), keys.WEBHOOKS_DUE],
            args=[
                ",".join(sorted(s.value for s in allowed)),
                new.value,
                keys.JOB_DONE_CHANNEL if new.terminal else "",
                job_id,
                failures_increment,
                *_pairs(fields),
            ],
        )

    def claim(self, job_id: str, token: str, *, lease_ms: int, started_at: str) -> Any:
        """{1, fields} claimed, {0, why not} or {-1} missing."""
        return self._claim(
            keys=[keys.job(job_id), keys.RUNNING, keys.DEFERRED],
            args=[token, lease_ms, started_at, job_id],
        )

    def claim_admit(
        self,
        job_id: str,
        token: str,
        *,
        lease_ms: int,
        started_at: str,
        instance: str,
        admission: list[int | str],
        attempt_id: str,
    ) -> Any:
        """``claim``'s reply, or {1, fields, admitted, wait ms, reason, tokens} when the
        job's first call on ``instance`` was judged too (``claim_admit.lua``).
        ``admission``: ARGV 4..12 of ``acquire.lua`` (``ProviderCapacity.admission_args``)."""
        return self._claim_admit(
            keys=[*limit_keys(instance), keys.job(job_id), keys.RUNNING, keys.DEFERRED],
            args=[job_id, 0, 0, *admission, token, attempt_id, lease_ms, started_at, instance],
        )

    def finish(
        self,
        job_id: str,
        token: str,
        status: JobStatus,
        *,
        failures_increment: int,
        fields: Mapping[str, Any] | None,
    ) -> Any:
        """{1, status} if ``token`` held the job, else {0, current status}."""
        return self._finish(
            keys=[keys.job(job_id), keys.RUNNING, keys.WEBHOOKS_DUE],
            args=[
                token,
                status.value,
                keys.JOB_DONE_CHANNEL,
                job_id,
                failures_increment,
                *_pairs(fields),
            ],
        )

    def finish_paid(
        self,
        job_id: str,
        token: str,
        status: JobStatus,
        *,
        failures_increment: int,
        reply: PaidReply,
        retention_seconds: int,
        fields: Mapping[str, Any] | None,
        release: ReleaseCall | None = None,
    ) -> Any:
        """``paid_reply`` (whoever holds the job), then ``finish`` (if ``token`` holds it),
        in one step: {1, status} or {0, current status}. With ``release``, the provider
        call's release (``release.lua``, whoever holds the job) in the same step."""
        paid = _paid_keys(reply)
        head = [token, status.value, keys.JOB_DONE_CHANNEL, job_id, failures_increment]
        if release is None:
            return self._finish_paid(
                keys=[paid[0], keys.RUNNING, keys.WEBHOOKS_DUE, *paid[1:]],
                args=[*head, *_paid_args(reply, retention_seconds), *_pairs(fields)],
            )
        return self._finish_paid_release(
            keys=[paid[0], keys.RUNNING, keys.WEBHOOKS_DUE, *paid[1:], *release.keys],
            args=[
                *head,
                *_paid_args(reply, retention_seconds),
                *release.args,
                *_pairs(fields),
            ],
        )

    def finish_in_session(
        self,
        job_id: str,
        token: str,
        status: JobStatus,
        *,
        failures_increment: int,
        fields: Mapping[str, Any] | None,
        session_id: str,
        tenant: str,
        max_messages: int,
        messages: list[str],
    ) -> Any:
        """``finish`` plus appending ``messages`` (JSON) to the session if it is still
        ``tenant``'s: {1, status, appended} or {0, current status}."""
        return self._finish_in_session(
            keys=[
                keys.job(job_id),
                keys.RUNNING,
                keys.session(session_id),
                keys.session_messages(session_id),
                keys.session_context(session_id),
                keys.WEBHOOKS_DUE,
            ],
            args=[
                token,
                status.value,
                keys.JOB_DONE_CHANNEL,
                job_id,
                failures_increment,
                tenant,
                max_messages,
                len(messages),
                *messages,
                *_pairs(fields),
            ],
        )

    def checkpoint(self, job_id: str, token: str, fields: Mapping[str, Any]) -> Any:
        """{1, "running"} if ``token`` holds the job (fields written), else {0, status}."""
        return self._checkpoint(keys=[keys.job(job_id)], args=[token, *_pairs(fields)])

    def requeue(
        self,
        job_id: str,
        token: str,
        *,
        delay_ms: int,
        failures_increment: int,
        fields: Mapping[str, Any] | None,
    ) -> Any:
        """{1, "queued"} if ``token`` held the job, else {0, status}."""
        return self._requeue(
            keys=[keys.job(job_id), keys.RUNNING, keys.DEFERRED],
            args=[token, job_id, delay_ms, failures_increment, *_pairs(fields)],
        )

    def start_attempt(self, job_id: str, token: str, attempt_id: str) -> Any:
        """Count an attempt about to start: {1, attempts} if ``token`` holds the job, else
        {0, current status}."""
        return self._start_attempt(keys=[keys.job(job_id)], args=[token, attempt_id])

    def paid_reply(self, reply: PaidReply, *, retention_seconds: int) -> Any:
        """Add a reply's usage to what the job paid for, whoever holds it, and to its
        tenant's usage (``tasks/usage``), once per ``reply.reply_id``: 1, or 0 when the
        record is gone (the usage is counted all the same)."""
        return self._paid_reply(keys=_paid_keys(reply), args=_paid_args(reply, retention_seconds))

    def stream_append(self, job_id: str, token: str, events: list[bytes], *, max_len: int) -> Any:
        """Append ``events`` (JSON) to the job's stream if ``token`` holds the job:
        {1, last id} or {0, current status}."""
        return self._stream_append(
            keys=[keys.job(job_id), keys.job_stream(job_id)], args=[token, max_len, *events]
        )

    def renew(self, leases: list[tuple[str, str]], *, lease_ms: int) -> Any:
        """Extend the (job id, token) leases still held; the count renewed."""
        return self._renew(
            keys=[keys.RUNNING, *(keys.job(job_id) for job_id, _ in leases)],
            args=[lease_ms, *(part for lease in leases for part in lease)],
        )

    def reap(self, *, recoveries_allowed: int, batch: int, finished_at: str, grace_ms: int) -> Any:
        """{re-queued, failed for losing too many workers}."""
        return self._reap(
            keys=[keys.RUNNING, keys.WEBHOOKS_DUE],
            args=[recoveries_allowed, batch, keys.JOB_DONE_CHANNEL, finished_at, grace_ms],
        )

    def pump(self, *, batch: int) -> Any:
        """{how many deferred jobs were due (pushed back onto their queues), ms until the
        next is due (-1: none)}."""
        return self._pump(keys=[keys.DEFERRED], args=[batch])
