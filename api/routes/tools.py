"""``/v1/tools``: the registered tools with their JSON Schemas, and synchronous execution
(a ``tool`` job, run by a worker like every other, waited for here)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import RequestId, Services, Tenant
from api.responses import FastJSONResponse
from api.schemas import ToolExecute
from api.sync_jobs import JOB_ID_HEADER, job_error, submit_and_wait
from tasks.records import JobStatus, JobType, new_job_id
from tasks.submission import JobSpec

router = APIRouter(prefix="/v1/tools", tags=["tools"])


@router.get("")
async def list_tools(_: Tenant, services: Services) -> FastJSONResponse:
    data = [{"object": "tool", **d} for d in services.tools.definitions()]
    return FastJSONResponse({"object": "list", "data": data})


@router.post("/execute")
async def execute_tool(
    body: ToolExecute, tenant: Tenant, services: Services, request_id: RequestId
) -> FastJSONResponse:
    spec = JobSpec(
        type=JobType.TOOL,
        request={"name": body.name, "arguments": body.arguments},
        tenant=tenant,
        request_id=request_id,
    )
    done = await submit_and_wait(services, spec, new_job_id())
    if isinstance(done, FastJSONResponse):
        return done
    if done.status is not JobStatus.SUCCEEDED:
        return job_error(done)
    result = done.result or {}
    return FastJSONResponse(
        {
            "object": "tool.result",
            "name": body.name,
            "output": result.get("output"),
            "seconds": result.get("seconds"),
            "job_id": done.id,
        },
        headers={JOB_ID_HEADER: done.id},
    )
