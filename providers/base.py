"""The provider interface every adapter implements, and its capability flags."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from providers.embeddings import EmbeddingRequest, EmbeddingResponse
from providers.streaming import StreamEvent
from providers.types import ChatRequest, ChatResponse


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider type can accept (``providers.registry.PROVIDER_KINDS``; instances may
    override); requests needing more are refused before anything is enqueued."""

    tools: bool = True
    vision: bool = False
    documents: bool = False
    max_output_tokens: int | None = None
    # Whether the vendor has an embeddings API (``embed``) at all.
    embeddings: bool = True
    # Whether the vendor counts a request's input tokens (the adapter is a ``TokenCounter``).
    token_count: bool = False


class Provider(Protocol):
    """One configured provider instance. Blocking: workers call it from pool threads.

    Implementations turn off their SDK's own retries (retries and limits are the gateway's
    job) and translate every SDK error into a ``gateway.errors.ProviderError``.
    """

    instance: str

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Run one chat completion. ``request.model`` is already the upstream model name."""
        ...

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        """The same completion through the vendor's streaming API: events as the provider
        produces them, ending with exactly one ``StreamEnd``; assembled
        (``providers.streaming.StreamAssembler``) they equal what ``complete`` returns.
        Nothing is sent before the first ``next()``. Every failure, before or during the
        stream, is a ``ProviderError``; a stream that stops before its end is a retryable
        ``ProviderUnavailable``, never a shorter answer. See ``providers.streaming``."""
        ...

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Embed every text of ``request`` (``request.model`` is the upstream name), in as
        many upstream calls as the vendor needs; every failure is a ``ProviderError``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class TokenCounter(Protocol):
    """An adapter whose vendor counts input tokens (``Capabilities.token_count``)."""

    def count_tokens(self, request: ChatRequest) -> int:
        """The input tokens of ``request`` as the vendor counts them (no reply is made);
        every failure is a ``ProviderError``."""
        ...
