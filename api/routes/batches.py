"""``/v1/batches``: submit many documents for enhancement at once, follow the batch,
stream its results as JSONL, cancel it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.deps import RequestId, Services, Tenant
from api.responses import FastJSONResponse
from api.schemas import BatchCreate
from tasks.batches.submission import BatchSpec

router = APIRouter(prefix="/v1/batches", tags=["batches"])

_BATCH_ID = r"^batch_[0-9a-f]+$"


@router.post("", status_code=202)
async def submit_batch(
    body: BatchCreate, tenant: Tenant, services: Services, request_id: RequestId
) -> FastJSONResponse:
    spec = BatchSpec(
        tenant=tenant,
        model=body.model,
        documents=[d.source() for d in body.documents],
        options=body.options,
        webhook_url=str(body.webhook.url) if body.webhook else None,
        metadata=body.metadata,
        priority=body.priority,
        idempotency_key=body.idempotency_key,
        provider=body.provider,
        request_id=request_id,
    )
    batch, created = await services.batch_submitter.submit(spec)
    if created:
        services.metrics.jobs_submitted.labels("enhancement", batch.provider or "").inc(batch.total)
    return FastJSONResponse(
        await services.batches.public(batch),
        status_code=202 if created else 200,
        headers={"Location": f"/v1/batches/{batch.id}"},
    )


@router.get("/{batch_id}")
async def get_batch(batch_id: str, tenant: Tenant, services: Services) -> FastJSONResponse:
    batch = await services.batches.get(batch_id, tenant)
    return FastJSONResponse(await services.batches.public(batch))


@router.get("/{batch_id}/results")
async def batch_results(batch_id: str, tenant: Tenant, services: Services) -> StreamingResponse:
    """One JSON line per document, in submission order; unfinished documents show their
    current status. Streamed: a large batch is never held in memory whole."""
    batch = await services.batches.get(batch_id, tenant)
    return StreamingResponse(
        services.batches.results(batch),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{batch.id}.jsonl"'},
    )


@router.post("/{batch_id}/cancel")
async def cancel_batch(batch_id: str, tenant: Tenant, services: Services) -> FastJSONResponse:
    batch = await services.batches.cancel(batch_id, tenant)
    return FastJSONResponse(await services.batches.public(batch))


@router.get("")
async def list_batches(
    tenant: Tenant,
    services: Services,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64, pattern=_BATCH_ID)] = None,
) -> FastJSONResponse:
    found, next_cursor = await services.batches.list(tenant, limit=limit, cursor=cursor)
    return FastJSONResponse(
        {
            "object": "list",
            "data": found,
            "next_cursor": next_cursor,
            "has_more": next_cursor is not None,
        }
    )
