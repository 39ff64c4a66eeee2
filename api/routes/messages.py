"""Anthropic's Messages API: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

A message request is translated at the edge into the gateway's chat request
(``api.anthropic.request``), checked by the same request model as every chat request, and
run as a ``completion`` job exactly as ``/v1/chat/completions`` runs one (same queue,
limits, routing, fallbacks, sync wait); the answer is translated back into Anthropic's
``message`` or its stream events, with the job id in a header. Errors take Anthropic's
shape (``api.anthropic.errors``). ``anthropic-version`` and ``anthropic-beta`` headers
are accepted and ignored.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.anthropic.job_errors import job_failed, timed_out
from api.anthropic.request import chat_request
from api.anthropic.response import anthropic_message
from api.anthropic.stream import message_stream
from api.anthropic.token_count import count_tokens
from api.body_route import BodyRoute
from api.deps import BodySize, Caller, RequestId, Services, Tenant
from api.response_cache import (
    CACHE_REQUEST_HEADERS_OPENAPI,
    CACHE_RESPONSE_HEADERS,
    cache_headers,
    look_up,
)
from api.responses import FastJSONResponse
from api.schemas.messages import (
    AnthropicError,
    AnthropicMessage,
    MessageCreate,
    MessageTokens,
    MessageTokensCount,
)
from api.streaming.replay import message_replay
from api.sync_jobs import JOB_ID_HEADER, submit_and_wait, submit_streaming
from tasks.jobs.record import JobStatus, JobType, new_job_id
from tasks.jobs.submission import JobSpec

router = APIRouter(prefix="/v1", tags=["messages"], route_class=BodyRoute)

_MEANING = {
    400: "Invalid request (Anthropic's ``invalid_request_error``), naming the field.",
    401: "Missing or invalid API key (``x-api-key`` or ``Authorization: Bearer``).",
    402: "A tenant budget is spent (``billing_error``; the message names it).",
    403: "A document names a bucket or key under a denied prefix (storage access rules).",
    404: "Unknown model, or a document's storage route or object.",
    409: "The job was cancelled while the caller waited.",
    413: "Request body too large.",
    429: "Rate-limited: the tenant's rpm/tpm (with ``retry-after``), or the provider's "
    "(after the gateway's retries).",
    500: "The job failed with an internal error.",
    502: "The provider failed (after the gateway's retries).",
    503: "No worker serves the routed instance, or the job store is unavailable.",
    504: "The job did not finish in time (its id is in a header: poll it).",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    return {s: {"model": AnthropicError, "description": _MEANING[s]} for s in statuses}


@router.post(
    "/messages",
    response_model=AnthropicMessage,
    responses={
        200: {
            "description": "The message; with ``stream`` as Anthropic's stream events.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "headers": CACHE_RESPONSE_HEADERS,
        },
        **_errors(400, 401, 402, 403, 404, 409, 413, 429, 500, 502, 503, 504),
    },
    # One dependency and the cache headers read directly, as at /v1/chat/completions.
    openapi_extra=CACHE_REQUEST_HEADERS_OPENAPI,
)
async def create_message(body: MessageCreate, caller: Caller, http: Request) -> Response:
    services, size = caller.services, caller.body_size
    cache_mode, cache_ttl = cache_headers(http)
    request = await services.offload.run(size, lambda: chat_request(body))
    spec = JobSpec(
        type=JobType.COMPLETION,
        request=request,
        tenant=caller.tenant,
        request_id=caller.request_id,
    )
    cache = await look_up(services, spec, cache_mode, cache_ttl)
    if cache.hit is not None:
        if body.stream:
            return message_replay(cache.hit, headers=cache.headers)
        return FastJSONResponse(anthropic_message(cache.hit), headers=cache.headers)
    response = await _computed(body.stream, cache.spec, services, size)
    # What the cache did goes with every computed answer, an error or a stream too.
    response.headers.update(cache.headers)
    return response


async def _computed(stream: bool, spec: JobSpec, services: Services, size: int) -> Response:
    if stream:
        return await _stream(spec, services, size)
    done = await submit_and_wait(services, spec, new_job_id(), size)
    if isinstance(done, FastJSONResponse):
        return timed_out(done)
    if done.status is not JobStatus.SUCCEEDED:
        return job_failed(done)
    return FastJSONResponse(anthropic_message(done), headers={JOB_ID_HEADER: done.id})


async def _stream(spec: JobSpec, services: Services, size: int) -> Response:
    spec.request["stream"] = True
    record = await submit_streaming(services, spec, size)
    return message_stream(services, record, cancel_on_disconnect=False, failed=job_failed)


@router.post(
    "/messages/count_tokens",
    response_model=MessageTokens,
    responses=_errors(400, 401, 402, 404, 413, 429, 500, 502, 503, 504),
)
async def count_message_tokens(
    body: MessageTokensCount,
    tenant: Tenant,
    services: Services,
    request_id: RequestId,
    size: BodySize,
) -> Response:
    return await count_tokens(body, tenant, services, request_id, size)
