"""``/v1/tools``: the registered tools with their JSON Schemas, and synchronous execution
(a ``tool`` job, run by a worker like every other, waited for here)."""

from __future__ import annotations

from fastapi import APIRouter
from redis.exceptions import RedisError

from api.body_route import BodyRoute
from api.deps import BodySize, RequestId, Services, Tenant
from api.responses import FastJSONResponse
from api.schemas import ServiceCircuit, Tool, ToolExecute, ToolList, ToolResult, error_responses
from api.schemas.errors import SYNC_JOB
from api.services import ApiServices
from api.sync_jobs import JOB_ID_HEADER, job_error, submit_and_wait
from tasks.jobs.record import JobStatus, JobType, new_job_id
from tasks.jobs.submission import JobSpec
from tools.circuit import CircuitStatus

router = APIRouter(prefix="/v1/tools", tags=["tools"], route_class=BodyRoute)


# Redis errors only blank the circuits (below): the listing is never a 503.
@router.get("", responses=error_responses(401))
async def list_tools(_: Tenant, services: Services) -> ToolList:
    """Every tool with its schema, and the circuit of each downstream service (null when
    Redis cannot say: the listing itself never depends on it)."""
    data = [Tool(object="tool", **d) for d in services.tools.definitions()]
    names = sorted({tool.service for tool in data if tool.service})
    return ToolList(object="list", data=data, services=await _circuits(services, names))


async def _circuits(services: ApiServices, names: list[str]) -> dict[str, ServiceCircuit | None]:
    if not names:
        return {}
    try:
        async with services.redis.pipeline(transaction=False) as pipe:
            for name in names:
                await services.circuit_scripts.state(name, client=pipe)
            replies = await pipe.execute()
    except RedisError:
        return dict.fromkeys(names)
    return {
        name: ServiceCircuit(**CircuitStatus.from_reply(name, reply).public())
        for name, reply in zip(names, replies, strict=True)
    }


# Like the chat route's, the result is sent pre-built; ``ToolResult`` documents it.
@router.post("/execute", response_model=ToolResult, responses=error_responses(*SYNC_JOB))
async def execute_tool(
    body: ToolExecute, tenant: Tenant, services: Services, request_id: RequestId, size: BodySize
) -> FastJSONResponse:
    spec = JobSpec(
        type=JobType.TOOL,
        request={"name": body.name, "arguments": body.arguments},
        tenant=tenant,
        request_id=request_id,
    )
    done = await submit_and_wait(services, spec, new_job_id(), size)
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
