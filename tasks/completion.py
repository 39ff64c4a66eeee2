"""The ``completion`` job kind: one chat completion through the routed provider."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from providers.base import Provider
from providers.config import InstanceConfig, ModelPrice
from providers.openai_format import chat_request_from_openai, message_to_openai
from providers.types import ChatResponse
from tasks.records import JobRecord


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What a successful job writes back to its record."""

    result: dict[str, Any]
    usage: dict[str, int] | None = None
    cost_usd: float | None = None


def run_completion(job: JobRecord, provider: Provider, instance: InstanceConfig) -> JobOutcome:
    """Call the provider once and shape the result as the job record stores it."""
    model = job.model or ""
    request = replace(chat_request_from_openai(job.request), model=instance.upstream_model(model))
    response = provider.complete(request)
    return completion_outcome(response, model, instance.prices.get(model))


def completion_outcome(
    response: ChatResponse, requested_model: str, price: ModelPrice | None = None
) -> JobOutcome:
    """The record fields for a finished completion, with its cost when the price is known."""
    usage = response.usage
    cost = price.cost(usage.prompt_tokens, usage.completion_tokens) if price else None
    return JobOutcome(
        cost_usd=round(cost, 8) if cost is not None else None,
        result={
            "message": message_to_openai(response.message),
            "finish_reason": response.finish_reason,
            "model": requested_model,
            "upstream_model": response.model,
            "provider_response_id": response.provider_response_id,
        },
        usage={
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        },
    )
