"""The Anthropic Messages API adapter, on the official SDK: one message (``complete``) or
its event stream (``stream``), and the SDK's errors. The wire format is
:mod:`providers.anthropic_format`; the stream's events, :mod:`providers.anthropic_stream`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import anthropic

from gateway.credentials import Credentials
from gateway.errors import CapabilityMissing, ProviderError
from providers.anthropic_format import (
    default_max_tokens,
    from_anthropic_message,
    to_anthropic_count_request,
    to_anthropic_request,
)
from providers.anthropic_stream import EventReader
from providers.config import InstanceConfig
from providers.embeddings import EmbeddingRequest, EmbeddingResponse
from providers.output_tool import as_json_text, forces_output_tool, stream_as_json_text
from providers.streaming import StreamEvent
from providers.types import ChatRequest, ChatResponse
from providers.upstream_errors import (
    PLACEHOLDER_API_KEY,
    call_failed,
    check_stream_type,
    decode_reply,
    error_for_status,
    for_instance,
    malformed_reply,
    parse_retry_after,
    stream_cut_short,
    stream_failed,
    timed_out,
    unreachable,
    upstream_message,
)


def map_anthropic_error(
    exc: anthropic.AnthropicError, *, provider: str, api_key: str
) -> ProviderError:
    """Translate any Anthropic SDK error into the gateway's hierarchy; the one place that does.

    Anthropic's own case: a spend limit is a 429 too, but waiting will not lift it, so it is
    not retryable. The status goes through the shared ladder (529 "overloaded" is a 5xx).
    """
    if not isinstance(exc, anthropic.APIStatusError):
        match exc:
            case anthropic.APITimeoutError():
                return timed_out(provider)
            case anthropic.APIConnectionError():
                return unreachable(provider)
            case _:
                return call_failed(exc, provider=provider)
    status = exc.status_code
    retry_after = parse_retry_after(exc.response.headers)
    message = upstream_message(exc.body, status, api_key)
    spend_limits = (
        anthropic.EnforcedSpendLimitReachedError,
        anthropic.ContractSpendLimitReachedError,
    )
    if isinstance(exc, spend_limits):
        return ProviderError(
            f"the provider account's spend limit is reached: {message}",
            provider=provider,
            upstream_status=status,
            retry_after=retry_after,
        )
    return error_for_status(status, message, provider=provider, retry_after=retry_after)


def map_anthropic_stream_error(
    exc: anthropic.AnthropicError | ValueError, *, provider: str, api_key: str
) -> ProviderError:
    """Translate what the SDK raises while reading a stream it opened with a 200. Its
    ``error`` event (``overloaded_error``, ``api_error``) arrives as an ``APIStatusError``
    carrying the 200 it came after; the connection failing mid-stream as a connection error;
    an event that is not JSON as a ``ValueError``."""
    match exc:
        case anthropic.APIStatusError() if exc.status_code < 400:
            message = upstream_message(exc.body, 200, api_key)
            return stream_failed(message, provider=provider)
        case anthropic.APITimeoutError():
            return timed_out(provider)
        case anthropic.APIConnectionError():
            return stream_cut_short(provider=provider)
        case anthropic.AnthropicError():
            return map_anthropic_error(exc, provider=provider, api_key=api_key)
        case ValueError():
            return malformed_reply("a stream event is not valid JSON", provider=provider)
        case _:
            return call_failed(exc, provider=provider)


def stream_anthropic(
    create: Callable[..., Any], body: dict[str, Any], *, provider: str, api_key: str
) -> Generator[StreamEvent, None, None]:
    """Run ``create`` (the SDK's ``messages.with_raw_response.create``) as a stream and
    translate it. Raw JSON events rather than the SDK's models, as ``complete`` reads its
    reply; the SDK still decodes the SSE, raises the ``error`` event and wraps connection
    failures."""
    try:
        raw = create(**body, stream=True)
    except anthropic.AnthropicError as exc:
        # "from None": the SDK error holds the request, x-api-key header included.
        raise map_anthropic_error(exc, provider=provider, api_key=api_key) from None
    check_stream_type(
        raw.http_response.headers.get("content-type"), "text/event-stream", provider=provider
    )
    events: anthropic.Stream[object] = raw.parse(to=anthropic.Stream[object])
    reader = EventReader()
    try:
        for event in events:
            yield from reader.feed(event)
        yield reader.end()
    except (anthropic.AnthropicError, ValueError) as exc:
        raise map_anthropic_stream_error(exc, provider=provider, api_key=api_key) from None
    except ProviderError as exc:
        raise for_instance(exc, provider) from None
    finally:
        events.close()


class AnthropicMessagesProvider:
    """Anthropic via ``POST {base_url}/v1/messages``.

    Options: ``default_max_tokens`` (default 4096), sent when the request sets no limit,
    because the Messages API requires one.
    """

    def __init__(self, config: InstanceConfig, credentials: Credentials) -> None:
        self.instance = config.name
        self._api_key = credentials.get("api_key") or PLACEHOLDER_API_KEY
        self._default_max_tokens = default_max_tokens(config.options, config.name)
        self._client = anthropic.Anthropic(
            base_url=config.base_url,
            api_key=self._api_key,
            max_retries=0,
            timeout=config.timeout_seconds,
        )
        # Resolved once here: the SDK loads resources lazily on first use.
        self._create = self._client.messages.with_raw_response.create

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One Messages API call; every failure is a ``ProviderError``."""
        body = to_anthropic_request(request, self._default_max_tokens)
        try:
            # The raw response skips building the SDK's models only to dump them again.
            raw = self._create(**body)
            payload = decode_reply(
                raw.http_response.content,
                raw.http_response.headers.get("content-type"),
                provider=self.instance,
            )
        except anthropic.AnthropicError as exc:
            # "from None": the SDK error holds the request, x-api-key header included.
            raise map_anthropic_error(exc, provider=self.instance, api_key=self._api_key) from None
        try:
            response = from_anthropic_message(payload)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None
        return as_json_text(response) if forces_output_tool(request) else response

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        """The Messages API's event stream; every failure is a ``ProviderError`` (see
        ``providers.base.Provider.stream``)."""
        body = to_anthropic_request(request, self._default_max_tokens)
        events = stream_anthropic(self._create, body, provider=self.instance, api_key=self._api_key)
        return stream_as_json_text(events) if forces_output_tool(request) else events

    def count_tokens(self, request: ChatRequest) -> int:
        """Anthropic's count of the request's input tokens (``messages.count_tokens``)."""
        body = to_anthropic_count_request(request)
        try:
            counted = self._client.messages.count_tokens(**body)
        except anthropic.AnthropicError as exc:
            raise map_anthropic_error(exc, provider=self.instance, api_key=self._api_key) from None
        return counted.input_tokens

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Anthropic has no embeddings API: the registry never routes an embedding here."""
        raise CapabilityMissing(f"instance {self.instance!r} (anthropic) has no embeddings API")

    def close(self) -> None:
        """Close the SDK's connection pool."""
        self._client.close()
