"""The ``embedding`` job kind: one ``embed`` of a batch of texts on the routed instance,
under its capacity and with its fallbacks and retries like a chat turn
(``tasks.loops.model_calls``); and what a finished embedding writes back.

The result is OpenAI's ``list`` object exactly as ``POST /v1/embeddings`` answers it,
vectors already in the requested ``encoding_format`` (base64 keeps a big batch's record
about a quarter of its JSON size), plus the instance and the upstream model's name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from gateway.errors import InvalidRequest
from providers.base import Provider
from providers.embeddings import EmbeddingResponse
from providers.openai_embeddings import (
    EncodingFormat,
    embedding_call_from_openai,
    embedding_list,
)
from providers.pricing import Price, price_for
from tasks.jobs.record import JobRecord, JobType
from tasks.kinds.base import JobOutcome, record_success
from tasks.loops.fallbacks import RouteState
from tasks.loops.model_calls import ModelCalls


class EmbeddingKind:
    """Runs ``embedding`` jobs: the request was checked at submission; read again here
    (without the per-request input limit, which is the API's)."""

    kind = JobType.EMBEDDING

    def __init__(self, *, calls: ModelCalls, provider_for: Callable[[str], Provider]) -> None:
        self.calls = calls
        self.provider_for = provider_for

    def run(self, job: JobRecord, token: str) -> None:
        calls = self.calls
        route = RouteState.of(job)
        instance = calls.instances.get(route.current.instance)
        if instance is None:
            raise InvalidRequest(f"provider instance {route.current.instance!r} is not configured")
        call = embedding_call_from_openai(job.request)
        request = dataclasses.replace(
            call.request, model=instance.upstream_model(route.current.model)
        )
        # Before admission, as for a chat turn: building a client must not delay the call.
        provider = self.provider_for(instance.name)
        turn = calls.embed(job, token, route, provider, request)
        if turn is None:
            return
        try:
            price = price_for(instance, route.current.model)
            outcome = embedding_outcome(turn.response, job.model or "", call.encoding_format, price)
            outcome.result["provider"] = instance.name
            record_success(calls.store, job, token, outcome, turn.seconds)
        finally:
            # After the vectors are recorded: paid-for vectors are kept even if this fails.
            calls.settle(turn)


def embedding_outcome(
    response: EmbeddingResponse,
    requested_model: str,
    encoding: EncodingFormat,
    price: Price | None = None,
) -> JobOutcome:
    """The record fields for finished embeddings, with their cost when the price is known."""
    tokens = response.usage.prompt_tokens
    result = embedding_list(response.vectors, requested_model, tokens, encoding)
    result["upstream_model"] = response.model
    cost = price.cost(tokens, 0) if price else None
    return JobOutcome(
        result=result,
        usage={"prompt_tokens": tokens, "total_tokens": tokens},
        cost_usd=round(cost, 8) if cost is not None else None,
    )
