"""``POST /v1/chat/completions``: OpenAI-compatible and synchronous, on top of a job.

The request becomes a completion job like any other (same queue, limits, retries); this
route waits for it and answers in OpenAI's shape, with the job id in a header so a client
that times out can still fetch the result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api.body_route import BodyRoute
from api.deps import BodySize, RequestId, Services, Tenant
from api.responses import FastJSONResponse
from api.schemas import ChatCompletion, ChatCompletionRequest, error_responses
from api.schemas.errors import SYNC_JOB
from api.sync_jobs import JOB_ID_HEADER, job_error, submit_and_wait
from gateway.errors import InvalidRequest
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
        },
        **error_responses(*SYNC_JOB),
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    tenant: Tenant,
    services: Services,
    request_id: RequestId,
    size: BodySize,
) -> FastJSONResponse | StreamingResponse:
    # A copy of the whole request: off the loop when it is large.
    request = await services.offload.run(size, body.job_request)
    # Not part of OpenAI's request: the SDKs send it through ``extra_body``.
    session_id = request.pop("session_id", None)
    if session_id is not None and (not isinstance(session_id, str) or not session_id):
        raise InvalidRequest("session_id must be a non-empty string", param="session_id")
    spec = JobSpec(
        type=JobType.COMPLETION,
        request=request,
        tenant=tenant,
        request_id=request_id,
        session_id=session_id,
    )
    done = await submit_and_wait(services, spec, new_job_id(), size)
    if isinstance(done, FastJSONResponse):
        return done
    if done.status is not JobStatus.SUCCEEDED:
        return job_error(done)
    headers = {JOB_ID_HEADER: done.id}
    completion = chat_completion(done)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            _sse(completion, include_usage), media_type="text/event-stream", headers=headers
        )
    return FastJSONResponse(completion, headers=headers)


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
                "logprobs": None,
            }
        ],
        "usage": job.usage or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "system_fingerprint": None,
    }


async def _sse(completion: dict[str, Any], include_usage: bool) -> AsyncIterator[bytes]:
    """The finished completion as OpenAI stream chunks: role+content, finish, [usage], DONE."""
    base = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    choice = completion["choices"][0]
    message = choice["message"]
    delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    if message.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **tc} for i, tc in enumerate(message["tool_calls"])]
    chunks = [
        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]},
    ]
    if include_usage:
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    for chunk in chunks:
        yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    yield b"data: [DONE]\n\n"
