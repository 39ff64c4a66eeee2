"""Provider types: each one's adapter, capabilities, credentials and request check.

A table rather than an if-chain: adding a provider type is one entry. Adapters are named
by import path and imported only when a worker builds one, so the API process (which
routes and checks requests) never loads boto3, the OCI SDK or google-auth. Those SDKs are
optional extras of the package (``pip install 'llm-gateway[oci]'``): a worker without one
disables the type's instances (``SdkMissing``), as it does an instance without credentials.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.credentials import CredentialResolver, Credentials
from gateway.errors import CapabilityMissing, InvalidRequest
from providers.base import Capabilities, Provider
from providers.config import InstanceConfig
from providers.embeddings import EmbeddingRequest
from providers.parameters import check_parameters
from providers.types import ChatRequest, DocumentPart
from providers.vertex_claude import is_claude

log = logging.getLogger(__name__)

ProviderFactory = Callable[[InstanceConfig, Credentials], Provider]
"""Builds an adapter from its instance config and resolved credentials."""

RequestCheck = Callable[[ChatRequest], object]
"""Raises ``InvalidRequest`` for a request the provider's wire format cannot carry."""

EmbeddingCheck = Callable[[EmbeddingRequest, str, str], object]
"""``(request, upstream model, where)``: raises ``InvalidRequest`` (naming the parameter
and ``where``, the instance) for an embedding request the vendor's API cannot carry."""

API_KEY = (frozenset({"api_key"}),)


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """Everything the gateway knows about one provider type.

    ``adapter`` is ``"module:Class"``, a ``ProviderFactory``. ``credential_fields`` lists
    the acceptable sets of credential fields (any one complete set will do; empty: none
    needed). ``ambient`` is ``"module:function"``, a probe for the SDK's default chain.
    ``check`` is ``"module:function"``, run on every request routed to the type with the
    model the instance sends upstream (its ``model_map`` applied), as the adapter gets it
    (the pure wire mapping: running it is the check; it never imports the SDK). ``embed_check`` is
    ``"module:function"``, an ``EmbeddingCheck`` run on every embedding request routed to
    the type. ``extra`` is the package extra that installs the adapter's SDK (none: a base
    dependency).
    """

    adapter: str
    capabilities: Capabilities
    credential_fields: tuple[frozenset[str], ...] = API_KEY
    ambient: str | None = None
    check: str | None = None
    embed_check: str | None = None
    extra: str | None = None


PROVIDER_KINDS: Mapping[str, ProviderKind] = MappingProxyType(
    {
        "openai": ProviderKind(
            adapter="providers.openai_chat:OpenAIChatProvider",
            capabilities=Capabilities(tools=True, vision=True, documents=True),
        ),
        "anthropic": ProviderKind(
            adapter="providers.anthropic_messages:AnthropicMessagesProvider",
            # Anthropic has no embeddings API (it points to Voyage AI).
            capabilities=Capabilities(
                tools=True, vision=True, documents=True, embeddings=False, token_count=True
            ),
            check="providers.anthropic_format:check_anthropic_request",
        ),
        "bedrock": ProviderKind(
            adapter="providers.bedrock_converse:BedrockConverseProvider",
            capabilities=Capabilities(tools=True, vision=True, documents=True, token_count=True),
            credential_fields=(frozenset({"access_key_id", "secret_access_key"}),),
            ambient="providers.bedrock_converse:aws_chain_available",
            check="providers.bedrock_format:check_converse_request",
            embed_check="providers.bedrock_embeddings:check_bedrock_embedding",
            extra="bedrock",
        ),
        "azure_openai": ProviderKind(
            adapter="providers.azure_openai:AzureOpenAIProvider",
            capabilities=Capabilities(tools=True, vision=True, documents=True),
            credential_fields=(frozenset({"api_key"}), frozenset({"azure_ad_token"})),
            ambient="providers.azure_openai:azure_identity_available",
            extra="azure",
        ),
        "vertex": ProviderKind(
            adapter="providers.vertex_gemini:VertexGeminiProvider",
            capabilities=Capabilities(tools=True, vision=True, documents=True, token_count=True),
            credential_fields=(frozenset({"service_account_json"}),),
            ambient="providers.vertex_auth:google_default_available",
            # Gemini's generateContent, or the Messages API for Claude models.
            check="providers.vertex_claude:check_vertex_request",
            extra="vertex",
        ),
        "ollama": ProviderKind(
            adapter="providers.ollama_chat:OllamaChatProvider",
            capabilities=Capabilities(tools=True, vision=True),
            credential_fields=(),
            check="providers.ollama_format:check_ollama_request",
        ),
        "watsonx": ProviderKind(
            adapter="providers.watsonx_chat:WatsonxChatProvider",
            capabilities=Capabilities(tools=True, vision=True),
            check="providers.watsonx_format:check_watsonx_request",
            embed_check="providers.watsonx_embeddings:check_watsonx_embedding",
        ),
        "oci": ProviderKind(
            adapter="providers.oci_chat:OCIChatProvider",
            capabilities=Capabilities(tools=True, vision=True),
            credential_fields=(frozenset({"private_key"}),),
            ambient="providers.oci_chat:oci_principal_available",
            check="providers.oci_format:check_oci_request",
            embed_check="providers.oci_embeddings:check_oci_embedding",
            extra="oci",
        ),
    }
)


class SdkMissing(Exception):
    """A provider type's SDK is not installed here: its instances are disabled (the
    message names the package extra to install)."""


@functools.cache
def _load(path: str) -> object:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _load_sdk(provider_type: str, path: str) -> object:
    """``_load`` for an adapter or its probe, which import the type's SDK at module level:
    an SDK that is absent (or broken) is ``SdkMissing``, naming the extra that installs it."""
    try:
        return _load(path)
    except ImportError as exc:
        extra = provider_kind(provider_type).extra
        fix = f"pip install 'llm-gateway[{extra}]'" if extra else "reinstall llm-gateway"
        missing = exc.name or type(exc).__name__
        raise SdkMissing(
            f"provider type {provider_type} needs a package that is not installed "
            f"({missing}): {fix}"
        ) from exc


def provider_kind(provider_type: str) -> ProviderKind:
    """The kind for ``provider_type``; ``ValueError`` for a type without an adapter."""
    kind = PROVIDER_KINDS.get(provider_type)
    if kind is None:
        raise ValueError(f"provider type {provider_type} is not implemented")
    return kind


def capabilities_of(config: InstanceConfig) -> Capabilities:
    """The type's capabilities with the instance's overrides applied."""
    base = provider_kind(config.type).capabilities
    overrides = {k: v for k, v in config.capabilities.model_dump().items() if v is not None}
    return dataclasses.replace(base, **overrides) if overrides else base


def resolve_credentials(
    config: InstanceConfig, resolver: CredentialResolver | None = None
) -> Credentials:
    """The instance's credentials from its sources, in order; ``CredentialsMissing`` if none
    yields them, ``SdkMissing`` without the type's SDK (the caller disables the instance)."""
    kind = provider_kind(config.type)
    ambient = _load_sdk(config.type, kind.ambient) if kind.ambient else None
    probe: Callable[[], bool] | None = None
    if callable(ambient):
        probe = lambda: bool(ambient(config))  # noqa: E731
    return (resolver or CredentialResolver()).resolve(
        config.credential_sources, kind.credential_fields, probe
    )


def build_provider(config: InstanceConfig, credentials: Credentials) -> Provider:
    """The adapter for ``config``. Raises ``ValueError`` for a type without an adapter,
    ``SdkMissing`` without its SDK."""
    factory = _load_sdk(config.type, provider_kind(config.type).adapter)
    assert callable(factory)
    provider: Provider = factory(config, credentials)
    return provider


def _parameter_column(provider_type: str, upstream_model: str) -> str:
    """The parameter table's column for a model: its type's, except Claude on Vertex,
    which speaks Anthropic's Messages API and honours what Anthropic does."""
    if provider_type == "vertex" and is_claude(upstream_model):
        return "anthropic"
    return provider_type


def check_request(config: InstanceConfig, request: ChatRequest) -> None:
    """Refuse, before anything is queued, what the instance cannot serve: a capability it
    lacks, or a request its wire format cannot carry. Documents the gateway reads itself
    are judged as text: any instance takes them (inlined where it takes no documents)."""
    request = request.gateway_documents_as_text()
    caps = capabilities_of(config)
    where = f"instance {config.name!r} ({config.type})"
    if request.tools and not caps.tools:
        raise CapabilityMissing(f"{where} does not support tool calling", param="tools")
    if request.needs_vision and not caps.vision:
        raise CapabilityMissing(f"{where} does not accept images", param="messages")
    if request.needs_documents and not caps.documents:
        raise CapabilityMissing(f"{where} does not accept documents", param="messages")
    if _document_urls(request) and config.type not in _FETCHES_DOCUMENTS:
        raise CapabilityMissing(
            f"{where} does not fetch documents by URL; send them inline", param="messages"
        )
    if (
        caps.max_output_tokens is not None
        and request.max_tokens is not None
        and request.max_tokens > caps.max_output_tokens
    ):
        raise InvalidRequest(
            f"max_tokens {request.max_tokens} exceeds {where}'s limit of {caps.max_output_tokens}",
            param="max_tokens",
        )
    upstream = config.upstream_model(request.model)
    column = _parameter_column(config.type, upstream)
    named = where if column == config.type else f"{where[:-1]}, {upstream} as {column})"
    check_parameters(column, named, request)
    kind = provider_kind(config.type)
    if kind.check:
        check = _load(kind.check)
        assert callable(check)
        if upstream != request.model:
            request = dataclasses.replace(request, model=upstream)
        try:
            check(request)
        except CapabilityMissing as exc:
            # A value the vendor has no counterpart for: name the instance, as the table does.
            raise CapabilityMissing(f"{where}: {exc.message}", param=exc.param) from None


# The types whose vendors fetch a document given by URL; the others take them inline.
_FETCHES_DOCUMENTS = frozenset({"anthropic", "vertex"})


def _document_urls(request: ChatRequest) -> bool:
    return any(
        isinstance(p, DocumentPart) and p.url is not None
        for m in request.messages
        for p in m.content
    )


def check_embedding(config: InstanceConfig, model: str, request: EmbeddingRequest) -> None:
    """Refuse, before anything is queued, an embedding request the instance cannot serve:
    a type without an embeddings API, ``model`` (the gateway's name) not among the
    instance's ``embedding_models``, or a parameter the vendor's API cannot carry."""
    where = f"instance {config.name!r} ({config.type})"
    if not capabilities_of(config).embeddings:
        raise CapabilityMissing(f"{where} has no embeddings API", param="model")
    if model not in config.embedding_models:
        raise CapabilityMissing(
            f"{where} does not serve the embedding model {model!r}", param="model"
        )
    kind = provider_kind(config.type)
    if kind.embed_check:
        check = _load(kind.embed_check)
        assert callable(check)
        check(request, config.upstream_model(model), where)
