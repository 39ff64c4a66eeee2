"""``GET /v1/jobs/{id}/stream``: follow a job as server-sent events, resumable.

Events are the job stream's (``tasks.jobs.stream``): ``attempt``, ``text``, ``tool_call``,
``turn_end``, ``tool_results`` and, last, ``done`` with the job's outcome. Each has the
stream's id as its SSE id; a client that reconnects with ``Last-Event-ID`` gets exactly
the events after it, for as long as the job's record exists. A job that was not submitted
with ``stream: true`` has only its ``done`` event.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from starlette.responses import Response

from api.deps import Services, Tenant
from api.schemas import error_responses
from api.schemas.errors import AUTHENTICATED
from api.streaming.responses import job_stream
from tasks.jobs.stream_hub import START

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_EVENT_ID = r"^[0-9]{1,20}-[0-9]{1,20}$"


@router.get(
    "/{job_id}/stream",
    response_class=Response,
    responses={
        200: {
            "description": "The job's events as `text/event-stream`, ending with `done`.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(*AUTHENTICATED, 404, 422),
    },
)
async def stream_job(
    job_id: str,
    tenant: Tenant,
    services: Services,
    last_event_id: Annotated[
        str | None,
        Header(
            max_length=41,
            pattern=_EVENT_ID,
            description="Resume after this event (the id of the last event received).",
        ),
    ] = None,
    cancel_on_disconnect: Annotated[
        bool, Query(description="Cancel the job if this client goes away before it ends.")
    ] = False,
) -> Response:
    record = await services.store.get(job_id, tenant)
    return await job_stream(
        services, record, last_event_id or START, cancel_on_disconnect=cancel_on_disconnect
    )
