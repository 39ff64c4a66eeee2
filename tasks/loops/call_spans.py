"""The trace span of one provider call, with the OpenTelemetry GenAI semantic-convention
attributes (``gen_ai.*``) and the gateway's own (``llm_gateway.*``).

Only what describes the call goes on the span: models, parameters, token counts, finish
reasons, which job and attempt. Never prompt or completion content, never credentials.
Tracing off (``gateway.tracing``), the span is None and nothing here does any work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from gateway import tracing
from gateway.errors import ProviderError
from providers.config import InstanceConfig, ProviderType
from providers.embeddings import EmbeddingRequest, EmbeddingResponse
from providers.types import ChatRequest, ChatResponse
from tasks.jobs.record import JobRecord
from tasks.loops.fallbacks import RouteState

if TYPE_CHECKING:
    from opentelemetry.trace import Span

# "count_tokens" is none of the conventions' well-known operations (chat, embeddings, ...):
# a vendor's count of a prompt's input tokens, which generates nothing.
Operation = Literal["chat", "embeddings", "count_tokens"]

# The semantic conventions' well-known ``gen_ai.provider.name`` values for each type.
PROVIDER_NAMES: dict[ProviderType, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure_openai": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "vertex": "gcp.vertex_ai",
    "ollama": "ollama",
    "watsonx": "ibm.watsonx.ai",
    "oci": "oci.genai",
}


@dataclass(frozen=True, slots=True)
class CallSpan:
    """The span of a call in progress; ``replied`` adds what the reply says."""

    span: Span | None

    def replied(self, response: ChatResponse | EmbeddingResponse) -> None:
        if self.span is None:
            return
        self.span.set_attribute("gen_ai.response.model", response.model)
        self.span.set_attribute("gen_ai.usage.input_tokens", response.usage.prompt_tokens)
        if isinstance(response, ChatResponse):
            self.span.set_attribute("gen_ai.usage.output_tokens", response.usage.completion_tokens)
            self.span.set_attribute("gen_ai.response.finish_reasons", [response.finish_reason])
            if response.provider_response_id:
                self.span.set_attribute("gen_ai.response.id", response.provider_response_id)

    def counted(self, input_tokens: int) -> None:
        """A token count's answer. Not ``gen_ai.usage.input_tokens``: no tokens were used
        (nothing is billed), and backends sum usage for cost; the prompt is counted again
        when it is sent."""
        if self.span is not None:
            self.span.set_attribute("llm_gateway.counted_input_tokens", input_tokens)


@contextmanager
def provider_call(
    job: JobRecord,
    instance: InstanceConfig,
    route: RouteState,
    request: ChatRequest | EmbeddingRequest,
    *,
    stream: bool = False,
    count: bool = False,
) -> Iterator[CallSpan]:
    """A client span around one provider call of ``job`` (attempt ``job.attempts + 1``):
    the request's chat or embeddings, or (``count``) a count of its input tokens. A
    provider failure escaping the block sets ``error.type`` to the gateway's error type."""
    if not tracing.enabled():
        yield CallSpan(None)
        return
    operation: Operation = (
        "count_tokens" if count else "chat" if isinstance(request, ChatRequest) else "embeddings"
    )
    attributes = call_attributes(job, instance, route, request, operation)
    attributes["llm_gateway.stream"] = stream
    with tracing.span(f"{operation} {request.model}", "client", attributes) as span:
        try:
            yield CallSpan(span)
        except ProviderError as exc:
            if span is not None:
                span.set_attribute("error.type", exc.error_type)
            raise


def call_attributes(
    job: JobRecord,
    instance: InstanceConfig,
    route: RouteState,
    request: ChatRequest | EmbeddingRequest,
    operation: Operation,
) -> dict[str, str | int | float | bool | list[str]]:
    """The attributes known before the call is made."""
    provider = PROVIDER_NAMES[instance.type]
    attributes: dict[str, str | int | float | bool | list[str]] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        # The older name of the same attribute, still what many backends group by.
        "gen_ai.system": provider,
        "gen_ai.request.model": request.model,
        "llm_gateway.job_id": job.id,
        "llm_gateway.tenant": job.tenant,
        "llm_gateway.instance": instance.name,
        "llm_gateway.attempt": job.attempts + 1,
        "llm_gateway.fallback": route.current.instance != route.primary.instance,
    }
    # A count generates nothing: the chat request's sampling parameters do not describe it.
    if isinstance(request, ChatRequest) and operation == "chat":
        if request.max_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = request.max_tokens
        if request.temperature is not None:
            attributes["gen_ai.request.temperature"] = request.temperature
        if request.top_p is not None:
            attributes["gen_ai.request.top_p"] = request.top_p
    return attributes
