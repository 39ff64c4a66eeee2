"""``POST /v1/messages/count_tokens``: how many input tokens a message request holds.

The request is translated, checked and routed as a message would be (an unknown model is
the same 404). Routed to an Anthropic instance, the provider counts: a ``token_count``
job on the instance's queue calls Anthropic's count endpoint (under the instance's rpm,
like any call). Any other instance: the gateway's own estimate, the one its token limits
reserve with (``limits.capacity.estimate_tokens``: characters / 4), said so in ``source``.
"""

from __future__ import annotations

from typing import Any

from api.anthropic.request import chat_request
from api.responses import FastJSONResponse
from api.schemas.messages import MessageTokensCount
from api.services import ApiServices
from limits.capacity import estimate_tokens
from providers.openai_format import chat_request_from_openai
from tasks.jobs.record import JobType, new_job_id
from tasks.jobs.submission import JobSpec


def estimated(request: dict[str, Any]) -> int:
    """The gateway's estimate of the prompt's tokens (no reply: ``max_tokens`` is not
    part of a count's request)."""
    return estimate_tokens(chat_request_from_openai(request), reply_estimate=0)


async def count_tokens(
    body: MessageTokensCount,
    tenant: str,
    services: ApiServices,
    request_id: str | None,
    size: int,
) -> FastJSONResponse:
    request = await services.offload.run(size, lambda: chat_request(body))
    spec = JobSpec(type=JobType.COMPLETION, request=request, tenant=tenant, request_id=request_id)
    # Checked and routed as the message would be; nothing is stored.
    record = await services.offload.run(
        size, lambda: services.submitter.prepare(spec, new_job_id())
    )
    tokens = await services.offload.run(size, lambda: estimated(record.request))
    return FastJSONResponse({"input_tokens": tokens, "source": "estimate"})
