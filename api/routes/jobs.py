"""``/v1/jobs``: submit, read, wait for, cancel and list jobs."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.body_route import BodyRoute
from api.deps import BodySize, RequestId, Services, Tenant
from api.documents import check_documents
from api.response_cache import (
    CACHE_RESPONSE_HEADERS,
    CacheModeHeader,
    CacheTtlHeader,
    look_up_job,
    stored_fields,
)
from api.responses import FastJSONResponse, offloaded_json
from api.schemas import Job, JobCreate, JobList, error_responses
from api.schemas.errors import ADMISSION, AUTHENTICATED, WITH_BODY
from api.services import ApiServices
from gateway.errors import InvalidRequest
from tasks.jobs.record import JobRecord, JobStatus, JobType
from tasks.jobs.submission import JobSpec
from tasks.jobs.summary import Expansion

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=BodyRoute)

# The routes send the record's pre-built dict: validating it against ``Job`` on the way out
# would cost about 2.5x the serialization on the hottest routes. ``response_model`` only
# documents it here (FastAPI skips validation when a route returns a Response); the
# conformance test checks that the two agree.


@router.post(
    "",
    status_code=202,
    response_model=Job,
    responses={
        202: {
            "description": "The job, queued; or a completion answered from the response "
            "cache (``x-llm-gateway-cache: hit``), already succeeded.",
            "headers": CACHE_RESPONSE_HEADERS,
        },
        200: {"model": Job, "description": "The job an earlier submission with this key made."},
        # 403: a document part's bucket or key the storage access rules refuse.
        **error_responses(*WITH_BODY, *ADMISSION, 403, 404, 409),
    },
)
async def submit_job(
    body: JobCreate,
    tenant: Tenant,
    services: Services,
    request_id: RequestId,
    size: BodySize,
    cache_mode: CacheModeHeader = None,
    cache_ttl: CacheTtlHeader = None,
) -> Response:
    """Queue a job; a completion answered from the response cache (``x-llm-gateway-cache:
    hit``) is stored already succeeded instead, never queued, costing nothing."""
    spec = JobSpec(
        type=JobType(body.type),
        request=body.request,
        tenant=tenant,
        priority=body.priority,
        idempotency_key=body.idempotency_key,
        metadata=body.metadata,
        webhook={"url": str(body.webhook.url)} if body.webhook else None,
        session_id=body.session_id,
        request_id=request_id,
    )
    cache = await look_up_job(services, spec, cache_mode, cache_ttl, size)
    if cache.hit is not None:
        hit = cache.hit
        fields = await services.offload.run(size, lambda: stored_fields(hit, spec))
        record, created = await services.submitter.submit_answered(hit, fields)
    else:
        record, created = await _submitted(services, cache.spec, size)
    # A repeat of an idempotency key answers with the earlier job, whose ``cache`` field
    # says what the cache did for it: this lookup's headers would describe another job.
    headers = {"Location": f"/v1/jobs/{record.id}", **(cache.headers if created else {})}
    return await offloaded_json(
        services.offload, size, record.public, status_code=202 if created else 200, headers=headers
    )


async def _submitted(services: ApiServices, spec: JobSpec, size: int) -> tuple[JobRecord, bool]:
    record, fields = await services.offload.run(size, lambda: _prepared(services, spec))
    await check_documents(services, record)
    record, created = await services.submitter.submit(record, fields)
    if created:
        services.metrics.jobs_submitted.labels(record.type.value, record.provider or "").inc()
    return record, created


def _prepared(services: ApiServices, spec: JobSpec) -> tuple[JobRecord, dict[str, str]]:
    """The checked, routed record and its encoded hash fields: all the CPU a submission
    costs before Redis, in one piece that can run off the event loop."""
    record = services.submitter.prepare(spec)
    return record, record.to_redis()


@router.get("/{job_id}", response_model=Job, responses=error_responses(*AUTHENTICATED, 404))
async def get_job(job_id: str, tenant: Tenant, services: Services) -> FastJSONResponse:
    record = await services.store.get(job_id, tenant)
    return FastJSONResponse(record.public())


async def wait_for_job(
    services: ApiServices, job_id: str, tenant: str, timeout: float
) -> JobRecord:
    """The record once terminal, or as it is when ``timeout`` passes. No polling: the
    completion hub wakes us; the first read happens after registering, so nothing is missed."""
    with services.hub.watch(job_id) as finished:
        record = await services.store.get(job_id, tenant)
        if record.status.terminal:
            return record
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), timeout)
    return await services.store.get_finished(job_id, tenant, finished)


@router.get(
    "/{job_id}/wait",
    response_model=Job,
    responses={
        202: {"model": Job, "description": "Not finished when the timeout passed."},
        **error_responses(*AUTHENTICATED, 400, 404, 422),
    },
)
async def wait_job(
    job_id: str,
    tenant: Tenant,
    services: Services,
    timeout: Annotated[float, Query(ge=0, description="seconds to wait")] = 30.0,
) -> FastJSONResponse:
    limit = services.settings.wait_max_seconds
    if timeout > limit:
        raise InvalidRequest(f"timeout must be at most {limit:g} seconds", param="timeout")
    record = await wait_for_job(services, job_id, tenant, timeout)
    return FastJSONResponse(record.public(), status_code=200 if record.status.terminal else 202)


@router.post(
    "/{job_id}/cancel", response_model=Job, responses=error_responses(*AUTHENTICATED, 404, 409)
)
async def cancel_job(job_id: str, tenant: Tenant, services: Services) -> FastJSONResponse:
    record = await services.store.cancel(job_id, tenant)
    return FastJSONResponse(record.public())


@router.get("", response_model=JobList, responses=error_responses(*AUTHENTICATED, 422))
async def list_jobs(
    tenant: Tenant,
    services: Services,
    expand: Annotated[
        list[Expansion],
        Query(
            default_factory=list,
            max_length=2,
            description="large fields to include in each job: `request`, `result` "
            "(repeat the parameter for both)",
        ),
    ],
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64, pattern=r"^job_[0-9a-f]+$")] = None,
) -> FastJSONResponse:
    """The tenant's jobs, newest first, as summaries: a job's request and result are left
    out unless ``expand`` names them, so a page of big jobs stays small."""
    page = await services.store.list(
        tenant, status=status, limit=limit, cursor=cursor, expand=frozenset(expand)
    )
    return FastJSONResponse(
        {
            "object": "list",
            "data": [job.public() for job in page.jobs],
            "next_cursor": page.next_cursor,
            "has_more": page.next_cursor is not None,
        }
    )
