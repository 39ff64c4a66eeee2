"""``POST /v1/embeddings``: OpenAI-compatible and synchronous, on top of an ``embedding``
job (same queues, limits, fallbacks and retries as chat), answered in OpenAI's shape with
the job id in a header."""

from __future__ import annotations

from fastapi import APIRouter

from api.body_route import BodyRoute
from api.deps import BodySize, RequestId, Services, Tenant
from api.responses import FastJSONResponse
from api.schemas import EmbeddingCreate, EmbeddingList, error_responses
from api.schemas.errors import SYNC_JOB
from api.sync_jobs import JOB_ID_HEADER, job_error, submit_and_wait
from tasks.jobs.record import JobStatus, JobType, new_job_id
from tasks.jobs.submission import JobSpec

router = APIRouter(prefix="/v1", tags=["embeddings"], route_class=BodyRoute)

# The job's result is OpenAI's object already (``tasks.kinds.embedding``); these are its
# fields the answer carries.
_ANSWER = ("object", "data", "model", "usage")


# Sent as the job recorded it; ``EmbeddingList`` documents it.
@router.post("/embeddings", response_model=EmbeddingList, responses=error_responses(*SYNC_JOB))
async def create_embeddings(
    body: EmbeddingCreate,
    tenant: Tenant,
    services: Services,
    request_id: RequestId,
    size: BodySize,
) -> FastJSONResponse:
    # A copy of the whole request (every text): off the loop when it is large.
    request = await services.offload.run(size, body.job_request)
    spec = JobSpec(type=JobType.EMBEDDING, request=request, tenant=tenant, request_id=request_id)
    done = await submit_and_wait(services, spec, new_job_id(), size)
    if isinstance(done, FastJSONResponse):
        return done
    if done.status is not JobStatus.SUCCEEDED:
        return job_error(done)
    result = done.result or {}
    return FastJSONResponse(
        {field: result.get(field) for field in _ANSWER}, headers={JOB_ID_HEADER: done.id}
    )
