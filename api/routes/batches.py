"""``/v1/batches``: submit many documents for enhancement at once, follow the batch,
stream its results as JSONL, cancel it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.body_route import BodyRoute
from api.deps import RequestId, Services, Tenant
from api.responses import FastJSONResponse
from api.schemas import Batch, BatchCreate, BatchList, BatchResultLine, error_responses
from api.schemas.errors import ADMISSION, AUTHENTICATED, WITH_BODY
from tasks.batches.submission import BatchSpec

router = APIRouter(prefix="/v1/batches", tags=["batches"], route_class=BodyRoute)

_BATCH_ID = r"^batch_[0-9a-f]+$"


class JsonLinesResponse(StreamingResponse):
    """A stream of JSON lines; as the route's response class it makes the document list
    the line's schema under ``application/x-ndjson``."""

    media_type = "application/x-ndjson"


# Batches are sent as ``BatchStore.public`` builds them; the models document them.


@router.post(
    "",
    status_code=202,
    response_model=Batch,
    responses={
        200: {"model": Batch, "description": "The batch an earlier submission with this key made."},
        **error_responses(*WITH_BODY, *ADMISSION, 409),
    },
)
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


@router.get("/{batch_id}", response_model=Batch, responses=error_responses(*AUTHENTICATED, 404))
async def get_batch(batch_id: str, tenant: Tenant, services: Services) -> FastJSONResponse:
    batch = await services.batches.get(batch_id, tenant)
    return FastJSONResponse(await services.batches.public(batch))


@router.get(
    "/{batch_id}/results",
    response_class=JsonLinesResponse,
    response_model=BatchResultLine,
    responses=error_responses(*AUTHENTICATED, 404),
)
async def batch_results(batch_id: str, tenant: Tenant, services: Services) -> StreamingResponse:
    """One JSON line per document (each a ``BatchResultLine``), in submission order;
    unfinished documents show their current status. Streamed: a large batch is never held
    in memory whole."""
    batch = await services.batches.get(batch_id, tenant)
    return JsonLinesResponse(
        services.batches.results(batch),
        headers={"Content-Disposition": f'attachment; filename="{batch.id}.jsonl"'},
    )


@router.post(
    "/{batch_id}/cancel", response_model=Batch, responses=error_responses(*AUTHENTICATED, 404, 409)
)
async def cancel_batch(batch_id: str, tenant: Tenant, services: Services) -> FastJSONResponse:
    batch = await services.batches.cancel(batch_id, tenant)
    return FastJSONResponse(await services.batches.public(batch))


@router.get("", response_model=BatchList, responses=error_responses(*AUTHENTICATED, 422))
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
