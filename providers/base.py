"""The provider interface every adapter implements, and its capability flags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from providers.types import ChatRequest, ChatResponse


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider type can accept (``providers.registry.PROVIDER_KINDS``; instances may
    override); requests needing more are refused before anything is enqueued."""

    tools: bool = True
    vision: bool = False
    documents: bool = False
    max_output_tokens: int | None = None


class Provider(Protocol):
    """One configured provider instance. Blocking: workers call it from pool threads.

    Implementations turn off their SDK's own retries (retries and limits are the gateway's
    job) and translate every SDK error into a ``gateway.errors.ProviderError``.
    """

    instance: str

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Run one chat completion. ``request.model`` is already the upstream model name."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
