"""The ``token_count`` job kind: how many input tokens a chat request holds, counted by the
routed instance's vendor when it can (``Capabilities.token_count``: one call under the
instance's capacity, with its fallbacks and retries), else by the gateway's own estimate
(``limits.capacity.estimate_tokens``, characters / 4, the figure token limits reserve).

The result says which: ``{"input_tokens", "source": "provider" | "estimate", "provider"}``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from gateway.errors import InvalidRequest
from limits.capacity import estimate_tokens
from providers.base import Provider, TokenCounter
from providers.openai_format import chat_request_from_openai
from providers.registry import capabilities_of
from providers.types import ChatRequest
from tasks.jobs.record import JobRecord, JobType
from tasks.kinds.base import JobOutcome, record_success
from tasks.loops.fallbacks import RouteState
from tasks.loops.model_calls import ModelCalls


def estimated_input_tokens(request: ChatRequest) -> int:
    """The gateway's estimate of the prompt alone (no reply is reserved)."""
    return estimate_tokens(dataclasses.replace(request, max_tokens=None), reply_estimate=0)


class TokenCountKind:
    """Runs ``token_count`` jobs; the request was checked and routed at submission."""

    kind = JobType.TOKEN_COUNT

    def __init__(self, *, calls: ModelCalls, provider_for: Callable[[str], Provider]) -> None:
        self.calls = calls
        self.provider_for = provider_for

    def run(self, job: JobRecord, token: str) -> None:
        calls = self.calls
        started = time.perf_counter()
        route = RouteState.of(job)
        instance = calls.instances.get(route.current.instance)
        if instance is None:
            raise InvalidRequest(f"provider instance {route.current.instance!r} is not configured")
        chat = chat_request_from_openai(job.request)
        request = dataclasses.replace(chat, model=instance.upstream_model(route.current.model))
        counted: int | None
        if capabilities_of(instance).token_count:
            provider = self.provider_for(instance.name)
            if not isinstance(provider, TokenCounter):
                raise InvalidRequest(f"instance {instance.name!r} cannot count tokens")
            counted = calls.count(job, token, route, provider, request)
            if counted is None:
                return  # handed back, moved to a fallback, or failed
            source = "provider"
        else:
            counted, source = estimated_input_tokens(chat), "estimate"
        result = {"input_tokens": counted, "source": source, "provider": instance.name}
        outcome = JobOutcome(result=result)
        record_success(calls.store, job, token, outcome, time.perf_counter() - started)
