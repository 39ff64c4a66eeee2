"""The Azure OpenAI adapter: OpenAI's chat-completions wire format on an Azure deployment.

``request.model`` arrives as the deployment name (an instance's ``deployments:`` are folded
into its ``model_map``); the SDK puts it in the path:
``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``.
Credentials: an ``api_key`` (sent as the ``api-key`` header), a static Entra ID token
``azure_ad_token`` (a bearer token; a source holding both uses the key), or, ambient,
azure-identity's default chain (workload identity, a service principal or a managed
identity), whose tokens the SDK fetches and refreshes per request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from typing import Any, Literal
from urllib.parse import quote

import openai
from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.identity import DefaultAzureCredential, get_bearer_token_provider

from gateway.credentials import Credentials
from gateway.errors import ProviderError, ProviderUnavailable
from providers.config import InstanceConfig
from providers.embeddings import EmbeddingRequest, EmbeddingResponse
from providers.openai_chat import map_openai_error
from providers.openai_embeddings import (
    embedding_request_to_openai,
    embedding_response_from_openai,
)
from providers.openai_format import chat_request_to_openai, chat_response_from_openai
from providers.openai_stream import stream_events
from providers.openai_wire import OpenAIWire
from providers.streaming import StreamEvent
from providers.types import ChatRequest, ChatResponse
from providers.upstream_errors import (
    AUTH_FAILED,
    PLACEHOLDER_API_KEY,
    decode_reply,
    for_instance,
)

# The Entra ID scope of Azure OpenAI (Cognitive Services) data-plane calls.
COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"

MaxTokensField = Literal["max_completion_tokens", "max_tokens"]


def azure_identity_available(config: InstanceConfig) -> bool:
    """Whether azure-identity's default chain will find an identity here, judged from the
    environment alone (no network call): workload identity, a service principal (secret or
    certificate) or a managed identity endpoint (App Service, Functions, Arc, Cloud Shell)."""

    def has(*names: str) -> bool:
        # The chain reads exactly these variables itself: its input, not a secret store.
        return all(os.environ.get(name) for name in names)

    workload = has("AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID")
    principal = has("AZURE_CLIENT_ID", "AZURE_TENANT_ID") and (
        has("AZURE_CLIENT_SECRET") or has("AZURE_CLIENT_CERTIFICATE_PATH")
    )
    managed = has("IDENTITY_ENDPOINT") or has("MSI_ENDPOINT")
    return workload or principal or managed


def map_azure_error(
    exc: openai.OpenAIError | AzureError, *, provider: str, secret: str
) -> ProviderError:
    """Translate an OpenAI SDK or azure-identity error into the gateway's hierarchy.

    Azure's own cases are the identity chain's: it found no identity or was refused a token
    (the operator's configuration, like a bad key), or could not reach Entra ID. The rest is
    OpenAI's wire format and errors.
    """
    match exc:
        case openai.OpenAIError():
            return map_openai_error(exc, provider=provider, api_key=secret)
        case ClientAuthenticationError():
            return ProviderError(AUTH_FAILED, provider=provider)
        case _:
            failure = "could not obtain an Entra ID token for the provider"
            return ProviderUnavailable(failure, provider=provider)


def _max_tokens_field(config: InstanceConfig) -> MaxTokensField:
    match config.options.get("max_tokens_field", "max_completion_tokens"):
        case "max_completion_tokens" | "max_tokens" as field:
            return field
        case other:
            expected = "'max_completion_tokens' or 'max_tokens'"
            raise ValueError(
                f"{config.name}: options.max_tokens_field must be {expected}, not {other!r}"
            )


class AzureOpenAIProvider:
    """Azure OpenAI via ``POST {base_url}/openai/deployments/{deployment}/chat/completions``.

    Needs ``base_url`` (the resource endpoint) and ``api_version``. Options:
    ``max_tokens_field``: ``max_completion_tokens`` (the default; Azure accepts it from
    api-version 2024-09-01-preview on, and reasoning models require it) or ``max_tokens``
    for older API versions.
    """

    def __init__(self, config: InstanceConfig, credentials: Credentials) -> None:
        self.instance = config.name
        if not config.base_url or not config.api_version:
            raise ValueError(f"{config.name}: Azure OpenAI needs base_url and api_version")
        self._max_tokens_field = _max_tokens_field(config)
        self._credential: DefaultAzureCredential | None = None
        self._tokens: Callable[[], str] | None = None
        self._static_auth: dict[str, str] = {}
        # The one secret an upstream message could echo; scrubbed from public errors.
        self._secret = ""
        endpoint, version, timeout = config.base_url, config.api_version, config.timeout_seconds
        # Always an explicit credential: without one the SDK would read AZURE_OPENAI_API_KEY
        # and AZURE_OPENAI_AD_TOKEN from the environment by itself.
        if credentials.ambient:
            self._credential = DefaultAzureCredential()
            tokens: Callable[[], str] = get_bearer_token_provider(
                self._credential, COGNITIVE_SERVICES_SCOPE
            )
            self._tokens = tokens
            self._client = openai.AzureOpenAI(
                azure_endpoint=endpoint,
                api_version=version,
                azure_ad_token_provider=tokens,
                max_retries=0,
                timeout=timeout,
            )
        elif credentials.get("api_key") or not credentials.get("azure_ad_token"):
            self._secret = credentials.get("api_key") or PLACEHOLDER_API_KEY
            self._static_auth = {"api-key": self._secret}
            self._client = openai.AzureOpenAI(
                azure_endpoint=endpoint,
                api_version=version,
                api_key=self._secret,
                max_retries=0,
                timeout=timeout,
            )
        else:
            self._secret = credentials.require("azure_ad_token")
            self._static_auth = {"Authorization": f"Bearer {self._secret}"}
            self._client = openai.AzureOpenAI(
                azure_endpoint=endpoint,
                api_version=version,
                azure_ad_token=self._secret,
                max_retries=0,
                timeout=timeout,
            )
        # Resolved once here: the SDK loads these resources lazily on first use.
        self._embed = self._client.embeddings.with_raw_response.create
        # Chat goes over the wire directly (providers/openai_wire.py), as the SDK sent it.
        self._deployments = f"{endpoint.rstrip('/')}/openai/deployments"
        self._api_version = quote(version, safe="")
        self._wire = OpenAIWire(
            endpoint, timeout=timeout, provider=self.instance, secret=self._secret
        )

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One chat completion on the deployment ``request.model``; every failure is a
        ``ProviderError``."""
        body = chat_request_to_openai(request, max_tokens_field=self._max_tokens_field)
        payload = self._wire.post(self._chat_url(request.model), body, self._auth())
        try:
            return chat_response_from_openai(payload)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        """The completion as OpenAI's SSE chunks (Azure's first one holds only the prompt's
        filter results); every failure is a ``ProviderError``."""
        body = chat_request_to_openai(request, max_tokens_field=self._max_tokens_field)
        return self._stream(request.model, body)

    def _stream(self, deployment: str, body: dict[str, Any]) -> Generator[StreamEvent, None, None]:
        # A generator, so that the token (the identity chain may fail) is asked for when the
        # stream is read, like every other failure of a stream.
        chunks = self._wire.stream(self._chat_url(deployment), body, self._auth())
        yield from stream_events(chunks, self.instance)

    def _chat_url(self, deployment: str) -> str:
        deployment = quote(deployment, safe="")
        return f"{self._deployments}/{deployment}/chat/completions?api-version={self._api_version}"

    def _auth(self) -> dict[str, str]:
        """The credential's header: the key, the static token, or a token from the identity
        chain (cached and refreshed by azure-identity, asked for per request)."""
        if self._tokens is None:
            return self._static_auth
        try:
            return {"Authorization": f"Bearer {self._tokens()}"}
        except AzureError as exc:
            raise map_azure_error(exc, provider=self.instance, secret=self._secret) from None

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """One ``POST /embeddings`` on the deployment ``request.model``, every text at once;
        every failure is a ``ProviderError``."""
        try:
            raw = self._embed(**embedding_request_to_openai(request))
            payload = decode_reply(
                raw.http_response.content,
                raw.http_response.headers.get("content-type"),
                provider=self.instance,
            )
        except (openai.OpenAIError, AzureError) as exc:
            error = map_azure_error(exc, provider=self.instance, secret=self._secret)
            raise error from None
        try:
            return embedding_response_from_openai(payload, request)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def close(self) -> None:
        """Close the connection pools and the identity chain's clients."""
        self._client.close()
        self._wire.close()
        if self._credential is not None:
            self._credential.close()
