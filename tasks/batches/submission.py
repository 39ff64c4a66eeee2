"""``BatchSubmitter``: turns a batch of documents into one enhancement job per document,
each checked and routed like a single job, stored with the batch in one transaction.

Documents share nothing: each job has its own conversation, and a failing document fails
only its own job. Every URL (documents and webhook) passes the outbound policy first,
each distinct host resolved once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from pydantic import ValidationError
from redis.exceptions import RedisError

from gateway.errors import InvalidRequest, ServiceUnavailable
from gateway.outbound import OutboundPolicy, canonical_url
from tasks.batches.record import BatchRecord, new_batch_id
from tasks.batches.store import BatchStore
from tasks.jobs.messages import TaskMessage, TaskMessageBuilder
from tasks.jobs.record import JobRecord, JobType, storable_json
from tasks.jobs.submission import JobSpec, JobSubmitter
from tasks.kinds.enhancement.request import EnhancementOptions
from tasks.webhooks.secrets import WebhookSecrets

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSpec:
    """A batch as submitted (already shaped by the API's schema)."""

    tenant: str
    model: str
    documents: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)
    webhook_url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    priority: int = 5
    idempotency_key: str | None = None
    provider: str | None = None
    request_id: str | None = None


class BatchSubmitter:
    """Validates, routes and stores batches."""

    def __init__(
        self,
        jobs: JobSubmitter,
        store: BatchStore,
        outbound: OutboundPolicy,
        secrets: WebhookSecrets,
        max_documents: int,
    ) -> None:
        self._jobs = jobs
        self._store = store
        self._outbound = outbound
        self._secrets = secrets
        self._max_documents = max_documents
        self._messages = TaskMessageBuilder()

    async def submit(self, spec: BatchSpec) -> tuple[BatchRecord, bool]:
        """Check every document, then store the batch and queue its jobs atomically.
        Returns (batch, created); an idempotent repeat returns the first batch."""
        if not 0 < len(spec.documents) <= self._max_documents:
            raise InvalidRequest(
                f"a batch holds 1 to {self._max_documents} documents", param="documents"
            )
        checked = self._jobs.check_enhancement_options(_options(spec.options), "options")
        options = checked.model_dump(exclude_none=True)
        webhook = (
            {"url": canonical_url(spec.webhook_url, param="webhook.url")}
            if spec.webhook_url
            else None
        )
        if webhook:
            self._secrets.require(spec.tenant)
        storable_json(spec.metadata, "metadata")
        # Hashing every document (up to the 64 MiB body) releases the GIL: in a thread, the
        # event loop serves other requests meanwhile.
        fingerprint = await asyncio.to_thread(_fingerprint, spec)
        await self._check_urls(spec)
        batch_id = new_batch_id()
        # Off the event loop: thousands of documents take a while to check and route, and
        # the API's other requests must not wait for them.
        jobs = await asyncio.to_thread(self._prepare_all, spec, options, webhook, batch_id)
        batch = BatchRecord(
            id=batch_id,
            tenant=spec.tenant,
            model=spec.model,
            total=len(jobs),
            created_at=time.time(),
            provider=_provider(jobs),
            priority=spec.priority,
            options=options,
            metadata=spec.metadata,
            webhook=webhook,
            idempotency_key=spec.idempotency_key,
            fingerprint=fingerprint,
        )
        try:
            # Budgets and rpm, one request a document; each job's tokens count in tpm as
            # its replies are paid (no estimate is lent for them).
            await self._jobs.admit(spec.tenant, 0, requests=len(jobs))
            return await self._store.create(batch, jobs)
        except RedisError as exc:
            log.error("batch_submit_failed", batch_id=batch_id, error=type(exc).__name__)
            raise ServiceUnavailable("the job store is unavailable; try again") from exc

    def _prepare_all(
        self,
        spec: BatchSpec,
        options: dict[str, Any],
        webhook: dict[str, Any] | None,
        batch_id: str,
    ) -> list[tuple[JobRecord, TaskMessage]]:
        jobs = [self._job(spec, options, webhook, i, batch_id) for i in range(len(spec.documents))]
        _unique_custom_ids(jobs)
        return jobs

    def _job(
        self,
        spec: BatchSpec,
        options: dict[str, Any],
        webhook: dict[str, Any] | None,
        index: int,
        batch_id: str,
    ) -> tuple[JobRecord, TaskMessage]:
        document = spec.documents[index]
        custom_id = document.get("custom_id") or f"doc-{index + 1}"
        source = {k: v for k, v in document.items() if k != "custom_id"}
        source.setdefault("name", custom_id)
        request: dict[str, Any] = {"model": spec.model, "document": source, "options": options}
        if spec.provider:
            request["provider"] = spec.provider
        job_spec = JobSpec(
            type=JobType.ENHANCEMENT,
            request=request,
            tenant=spec.tenant,
            priority=spec.priority,
            webhook=webhook,
            request_id=spec.request_id,
        )
        record = self._jobs.prepare(job_spec, param=f"documents[{index}]")
        record = replace(record, batch_id=batch_id, custom_id=str(custom_id))
        assert record.queue is not None
        message = self._messages.run_job(
            record.id, record.queue, record.priority, record.request_id
        )
        return record, message

    async def _check_urls(self, spec: BatchSpec) -> None:
        urls = {
            f"documents[{i}].url": str(d["url"])
            for i, d in enumerate(spec.documents)
            if d.get("url")
        }
        if spec.webhook_url:
            urls["webhook.url"] = spec.webhook_url
        if urls:
            await self._outbound.check_urls_async(urls)


def _options(raw: dict[str, Any]) -> EnhancementOptions:
    """The batch's options, checked once for every document (400 names a bad one)."""
    try:
        return EnhancementOptions.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("options", *first["loc"]))
        raise InvalidRequest(f"{where}: {first['msg']}", param=where) from None


def _unique_custom_ids(jobs: list[tuple[JobRecord, TaskMessage]]) -> None:
    seen: set[str] = set()
    for index, (record, _) in enumerate(jobs):
        if record.custom_id in seen:
            raise InvalidRequest(
                f"custom_id {record.custom_id!r} is used twice; each document needs its own",
                param=f"documents[{index}].custom_id",
            )
        seen.add(record.custom_id or "")


def _provider(jobs: list[tuple[JobRecord, TaskMessage]]) -> str | None:
    """The instance the documents were routed to, when they all went to one."""
    providers = {record.provider for record, _ in jobs}
    return providers.pop() if len(providers) == 1 else None


def _fingerprint(spec: BatchSpec) -> str:
    body = [spec.model, spec.documents, spec.options, spec.webhook_url, spec.provider]
    return hashlib.sha256(storable_json(body, "documents")).hexdigest()
