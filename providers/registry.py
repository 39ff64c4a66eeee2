"""Adapter factories keyed by provider type, and ``build_provider`` to make one instance.

A table rather than an if-chain: adding a provider type is one import and one entry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType

from providers.anthropic_messages import AnthropicMessagesProvider, to_anthropic_request
from providers.base import Provider
from providers.config import InstanceConfig
from providers.openai_chat import OpenAIChatProvider
from providers.types import ChatRequest

log = logging.getLogger(__name__)

ProviderFactory = Callable[[InstanceConfig, str | None], Provider]
"""Builds an adapter from its instance config and API key (None: not configured)."""

PROVIDER_FACTORIES: Mapping[str, ProviderFactory] = MappingProxyType(
    {
        "openai": OpenAIChatProvider,
        "anthropic": AnthropicMessagesProvider,
    }
)


def build_provider(config: InstanceConfig, environ: Mapping[str, str]) -> Provider:
    """The adapter for ``config``, with its API key read from ``environ[config.api_key_env]``.

    A missing key is not fatal: adapters then send a placeholder key, which the local
    emulator accepts and a real API answers with 401 ("provider authentication failed").
    Raises ``ValueError`` for a provider type without an adapter.
    """
    factory = PROVIDER_FACTORIES.get(config.type)
    if factory is None:
        raise ValueError(f"provider type {config.type} is not implemented")
    api_key = environ.get(config.api_key_env) if config.api_key_env else None
    if not api_key:
        # Names the variable, never a value.
        log.warning(
            "provider instance %s has no API key (%s is unset); using a placeholder key",
            config.name,
            config.api_key_env or "api_key_env is not configured",
        )
    return factory(config, api_key or None)


RequestCheck = Callable[[ChatRequest], object]
"""Raises ``InvalidRequest`` for a request the provider's wire format cannot carry."""

REQUEST_CHECKS: Mapping[str, RequestCheck] = MappingProxyType(
    {
        # The mapping is pure: running it is the check (bad tool-call JSON, image URLs, ...).
        "anthropic": lambda request: to_anthropic_request(request, default_max_tokens=1),
    }
)


def check_request(provider_type: str, request: ChatRequest) -> None:
    """Refuse, before anything is queued, what the routed provider would reject anyway."""
    check = REQUEST_CHECKS.get(provider_type)
    if check is not None:
        check(request)
