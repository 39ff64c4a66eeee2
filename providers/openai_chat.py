"""The OpenAI chat-completions adapter: chat over the wire directly
(``providers/openai_wire.py``), embeddings through the SDK.

Retries are off in both: retrying is the gateway's job, and a hidden retry would
double-count against the instance's global rate limits.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Literal

import openai

from gateway.credentials import Credentials
from gateway.errors import ProviderError
from providers.config import InstanceConfig
from providers.embeddings import EmbeddingRequest, EmbeddingResponse
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
    OUT_OF_QUOTA,
    PLACEHOLDER_API_KEY,
    call_failed,
    decode_reply,
    error_for_status,
    for_instance,
    parse_retry_after,
    timed_out,
    unreachable,
    upstream_message,
)


def map_openai_error(exc: openai.OpenAIError, *, provider: str, api_key: str) -> ProviderError:
    """Translate any OpenAI SDK error into the gateway's hierarchy; the one place that does.

    OpenAI's own case: an exhausted quota (``insufficient_quota``) is a 429 too, but waiting
    will not help, so it is not retryable. The status goes through the shared ladder.
    """
    if not isinstance(exc, openai.APIStatusError):
        match exc:
            case openai.APITimeoutError():
                return timed_out(provider)
            case openai.APIConnectionError():
                return unreachable(provider)
            case _:
                return call_failed(exc, provider=provider)
    status = exc.status_code
    retry_after = parse_retry_after(exc.response.headers)
    message = upstream_message(exc.body, status, api_key)
    quota = isinstance(exc, openai.RateLimitError) and exc.code == "insufficient_quota"
    return error_for_status(
        status,
        message,
        provider=provider,
        retry_after=retry_after,
        account_limit=OUT_OF_QUOTA if quota else None,
    )


class OpenAIChatProvider:
    """OpenAI (or any compatible server) via ``POST {base_url}/chat/completions``.

    Options: ``max_tokens_field`` (``max_completion_tokens``, the default, or ``max_tokens``
    for compatible servers that predate it).
    """

    def __init__(self, config: InstanceConfig, credentials: Credentials) -> None:
        self.instance = config.name
        self._api_key = credentials.get("api_key") or PLACEHOLDER_API_KEY
        match config.options.get("max_tokens_field", "max_completion_tokens"):
            case "max_completion_tokens" | "max_tokens" as field:
                self._max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = field
            case other:
                expected = "'max_completion_tokens' or 'max_tokens'"
                raise ValueError(
                    f"{config.name}: options.max_tokens_field must be {expected}, not {other!r}"
                )
        self._client = openai.OpenAI(
            base_url=config.base_url,
            api_key=self._api_key,
            max_retries=0,
            timeout=config.timeout_seconds,
        )
        # Resolved once here: the SDK loads these resources lazily, about 35 ms on first use,
        # which would otherwise land on the first call after admission.
        self._embed = self._client.embeddings.with_raw_response.create
        # Chat goes over the wire directly (providers/openai_wire.py), to the URL the SDK
        # would use (its default, or OPENAI_BASE_URL, when the instance sets no base_url).
        base_url = str(self._client.base_url).rstrip("/")
        self._chat_url = f"{base_url}/chat/completions"
        self._headers = {"Authorization": f"Bearer {self._api_key}"}
        self._wire = OpenAIWire(
            base_url, timeout=config.timeout_seconds, provider=self.instance, secret=self._api_key
        )

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One chat completion; every failure is a ``ProviderError``."""
        body = chat_request_to_openai(request, max_tokens_field=self._max_tokens_field)
        payload = self._wire.post(self._chat_url, body, self._headers)
        try:
            return chat_response_from_openai(payload)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        """The completion as SSE chunks (``stream_options.include_usage`` on); every failure
        is a ``ProviderError`` (see ``providers.base.Provider.stream``)."""
        body = chat_request_to_openai(request, max_tokens_field=self._max_tokens_field)
        return stream_events(self._wire.stream(self._chat_url, body, self._headers), self.instance)

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """One ``POST /embeddings`` with every text; every failure is a ``ProviderError``."""
        try:
            raw = self._embed(**embedding_request_to_openai(request))
            payload = decode_reply(
                raw.http_response.content,
                raw.http_response.headers.get("content-type"),
                provider=self.instance,
            )
        except openai.OpenAIError as exc:
            raise map_openai_error(exc, provider=self.instance, api_key=self._api_key) from None
        try:
            return embedding_response_from_openai(payload, request)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def close(self) -> None:
        """Close the connection pools."""
        self._client.close()
        self._wire.close()
