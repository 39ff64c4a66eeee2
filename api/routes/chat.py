"""``POST /v1/chat/completions``: OpenAI-compatible and synchronous, on top of a job.

The request becomes a completion job like any other (same queue, limits, retries); this
route waits for it and answers in OpenAI's shape, with the job id in a header so a client
that times out can still fetch the result.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api.deps import RequestId, Services, Tenant
from api.errors import error_response
from api.responses import FastJSONResponse
from api.schemas import ChatCompletionRequest
from gateway.errors import JobTimeout, status_for_error_type
from tasks.records import JobRecord, JobStatus, JobType, new_job_id
from tasks.submission import JobSpec

router = APIRouter(prefix="/v1", tags=["chat"])

JOB_ID_HEADER = "x-llm-gateway-job-id"
# OpenAI's and Anthropic's SDKs honour this header. A failed or timed-out job has already
# been retried by the gateway (or is still running): an SDK retry would submit a duplicate.
NO_SDK_RETRY = {"x-should-retry": "false"}


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, tenant: Tenant, services: Services, request_id: RequestId
) -> FastJSONResponse | StreamingResponse:
    spec = JobSpec(
        type=JobType.COMPLETION, request=body.job_request(), tenant=tenant, request_id=request_id
    )
    record = services.submitter.prepare(spec, new_job_id())
    headers = {JOB_ID_HEADER: record.id}
    timeout = services.settings.sync_timeout_seconds
    # Watch before submitting: the completion cannot be announced before we listen.
    with services.hub.watch(record.id) as finished:
        await services.submitter.submit(record)
        services.metrics.jobs_submitted.labels(record.type.value, record.provider or "").inc()
        try:
            await asyncio.wait_for(finished.wait(), timeout)
        except TimeoutError:
            error = JobTimeout(
                f"job {record.id} did not finish within {timeout:g}s; poll GET /v1/jobs/{record.id}"
            )
            return FastJSONResponse(
                {"error": error.to_dict()}, status_code=504, headers={**headers, **NO_SDK_RETRY}
            )
    done = await services.store.get(record.id, tenant)
    if done.status is not JobStatus.SUCCEEDED:
        return _job_error(done, headers)
    completion = chat_completion(done)
    if body.stream:
        include_usage = bool((body.stream_options or {}).get("include_usage"))
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


def _job_error(job: JobRecord, headers: dict[str, str]) -> FastJSONResponse:
    error = job.error or {"type": "internal_error", "message": "job failed"}
    error_type = str(error.get("type", "internal_error"))
    status = 409 if job.status is JobStatus.CANCELLED else status_for_error_type(error_type)
    return error_response(
        status,
        error_type,
        str(error.get("message", "job failed")),
        error.get("param"),
        {**headers, **NO_SDK_RETRY},
    )


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
