"""``POST /v1/chat/completions``: OpenAI-compatible and synchronous, on top of a job.

The request becomes a completion job like any other (same queue, limits, retries); this
route waits for it and answers in OpenAI's shape, with the job id in a header so a client
that times out can still fetch the result. With ``stream`` the reply is relayed as OpenAI
chunks while the provider produces it (``api.streaming``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.body_route import BodyRoute
from api.deps import Caller
from api.response_cache import (
    CACHE_REQUEST_HEADERS_OPENAPI,
    CACHE_RESPONSE_HEADERS,
    cache_headers,
    look_up,
)
from api.responses import FastJSONResponse
from api.schemas import ChatCompletion, ChatCompletionRequest, error_responses
from api.schemas.errors import SYNC_JOB
from api.services import ApiServices
from api.streaming.replay import chat_replay
from api.streaming.responses import chat_stream
from api.sync_jobs import JOB_ID_HEADER, job_error, submit_and_wait, submit_streaming
from tasks.jobs.record import JobRecord, JobStatus, JobType, new_job_id
from tasks.jobs.submission import JobSpec

router = APIRouter(prefix="/v1", tags=["chat"], route_class=BodyRoute)


# The completion is sent as ``chat_completion`` builds it; ``ChatCompletion`` documents it
# (validating it on the way out would cost more than the serialization itself).
@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {
            "description": "The completion; with ``stream`` as OpenAI's stream chunks.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "headers": CACHE_RESPONSE_HEADERS,
        },
        # 403: a document part's bucket or key the storage access rules refuse.
        **error_responses(*SYNC_JOB, 403),
    },
    openapi_extra=CACHE_REQUEST_HEADERS_OPENAPI,
)
async def chat_completions(body: ChatCompletionRequest, caller: Caller, http: Request) -> Response:
    services, size = caller.services, caller.body_size
    cache_mode, cache_ttl = cache_headers(http)
    # A copy of the whole request: off the loop when it is large.
    request = await services.offload.run(size, body.job_request)
    spec = JobSpec(
        type=JobType.COMPLETION,
        request=request,
        tenant=caller.tenant,
        request_id=caller.request_id,
        session_id=body.session_id,
    )
    cache = await look_up(services, spec, cache_mode, cache_ttl)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    if cache.hit is not None:
        if body.stream:
            return chat_replay(cache.hit, include_usage=include_usage, headers=cache.headers)
        return FastJSONResponse(chat_completion(cache.hit), headers=cache.headers)
    response = await _computed(body, cache.spec, services, size)
    # What the cache did goes with every computed answer, an error or a stream too.
    response.headers.update(cache.headers)
    return response


async def _computed(
    body: ChatCompletionRequest, spec: JobSpec, services: ApiServices, size: int
) -> Response:
    if body.stream:
        return await _stream(body, spec, services, size)
    done = await submit_and_wait(services, spec, new_job_id(), size)
    if isinstance(done, FastJSONResponse):
        return done
    if done.status is not JobStatus.SUCCEEDED:
        return job_error(done)
    return FastJSONResponse(chat_completion(done), headers={JOB_ID_HEADER: done.id})


async def _stream(
    body: ChatCompletionRequest, spec: JobSpec, services: ApiServices, size: int
) -> Response:
    """The job streams: its reply is relayed as it is produced (``api.streaming``)."""
    spec.request["stream"] = True

    record = await submit_streaming(services, spec, size)
    return chat_stream(
        services,
        record,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        cancel_on_disconnect=body.cancel_on_disconnect,
    )


def chat_completion(job: JobRecord) -> dict[str, Any]:
    """A finished completion job as an OpenAI ``chat.completion`` object."""
    result = job.result or {}
    return {
        "id": f"chatcmpl-{job.id.removeprefix('job_')}",
        "object": "chat.completion",
        "created": int(job.created_at),
        "model": job.model,
        "choices": [
            {
                "index": 0,
                "message": result.get("message", {"role": "assistant", "content": None}),
                "finish_reason": result.get("finish_reason", "stop"),
                "logprobs": result.get("logprobs"),
            }
        ],
        "usage": job.usage or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "system_fingerprint": None,
    }
