"""``POST /v1/messages/count_tokens``: how many input tokens a message request holds.

The request is translated, checked and routed as a message would be (an unknown model is
the same 404). Routed to an instance whose vendor counts tokens (Anthropic, Bedrock,
Vertex: ``Capabilities.token_count``), the provider counts: a ``token_count`` job on the
instance's queue (``tasks.kinds.token_count``) makes the call under the instance's rpm,
like any call, with its fallbacks and retries. Any other instance: the gateway's own
estimate, the figure its token limits reserve (characters / 4), made here without a job.
``source`` says which.
"""

from __future__ import annotations

from starlette.responses import Response

from api.anthropic.job_errors import job_failed, timed_out
from api.anthropic.request import chat_request
from api.responses import FastJSONResponse
from api.schemas.messages import MessageTokensCount
from api.services import ApiServices
from api.sync_jobs import JOB_ID_HEADER, submit_and_wait
from providers.openai_format import chat_request_from_openai
from providers.registry import capabilities_of
from tasks.jobs.record import JobStatus, JobType, new_job_id
from tasks.jobs.submission import JobSpec
from tasks.kinds.token_count import estimated_input_tokens


async def count_tokens(
    body: MessageTokensCount,
    tenant: str,
    services: ApiServices,
    request_id: str | None,
    size: int,
) -> Response:
    request = await services.offload.run(size, lambda: chat_request(body))
    spec = JobSpec(type=JobType.TOKEN_COUNT, request=request, tenant=tenant, request_id=request_id)
    # Checked and routed as the message would be; nothing is stored yet.
    record = await services.offload.run(size, lambda: services.submitter.prepare(spec))
    instance = services.providers.instances[record.provider or ""]
    if not capabilities_of(instance).token_count:
        tokens = await services.offload.run(
            size, lambda: estimated_input_tokens(chat_request_from_openai(record.request))
        )
        return FastJSONResponse({"input_tokens": tokens, "source": "estimate"})
    done = await submit_and_wait(services, spec, new_job_id(), size)
    if isinstance(done, FastJSONResponse):
        return timed_out(done)
    if done.status is not JobStatus.SUCCEEDED:
        return job_failed(done)
    result = done.result or {}
    answer = {"input_tokens": result.get("input_tokens", 0), "source": result.get("source")}
    return FastJSONResponse(answer, headers={JOB_ID_HEADER: done.id})
