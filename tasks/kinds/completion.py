"""The ``completion`` job kind's result: what a finished chat completion writes back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from providers.config import ModelPrice
from providers.openai_format import message_to_openai
from providers.types import ChatResponse


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What a successful job writes back to its record."""

    result: dict[str, Any]
    usage: dict[str, int] | None = None
    cost_usd: float | None = None


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
        usage=usage.as_dict(),
    )
