"""The Anthropic Messages API adapter: one message (``complete``) or its event stream
(``stream``) over :class:`providers.json_wire.JsonWire`, token counts through the official
SDK. The wire format is :mod:`providers.anthropic_format`; the stream's events,
:mod:`providers.anthropic_stream`.
"""

from __future__ import annotations

import functools
from collections.abc import Generator, Mapping

import anthropic
import orjson

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
from providers.json_wire import JsonWire
from providers.output_tool import as_json_text, forces_output_tool, stream_as_json_text
from providers.sse import ServerSentEvent
from providers.streaming import StreamEvent
from providers.types import ChatRequest, ChatResponse
from providers.upstream_errors import (
    PLACEHOLDER_API_KEY,
    call_failed,
    error_body,
    error_for_status,
    for_instance,
    malformed_reply,
    parse_retry_after,
    stream_failed,
    timed_out,
    unreachable,
    upstream_message,
)

# The Messages API version the wire format is written for (the SDK's default too).
ANTHROPIC_VERSION = "2023-06-01"
# A 429 with one of these codes is a spend limit: waiting will not lift it.
SPEND_LIMIT_REACHED = "the provider account's spend limit is reached"
SPEND_LIMIT_CODES = frozenset({"contract_spend_limit_reached", "enforced_spend_limit_reached"})


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
    return error_for_status(
        status,
        message,
        provider=provider,
        retry_after=retry_after,
        account_limit=SPEND_LIMIT_REACHED if isinstance(exc, spend_limits) else None,
    )


def anthropic_status_error(
    status: int, headers: Mapping[str, str], content: bytes, *, provider: str, secret: str
) -> ProviderError:
    """An error reply of the Messages API, translated as :func:`map_anthropic_error`
    translates the SDK's: a spend limit (a 429 whose ``error.details.error_code`` says so)
    is not retryable; every other status goes through the shared ladder."""
    body = error_body(content)
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    code = details.get("error_code") if isinstance(details, dict) else None
    return error_for_status(
        status,
        upstream_message(body, status, secret),
        provider=provider,
        retry_after=parse_retry_after(headers),
        account_limit=SPEND_LIMIT_REACHED if status == 429 and code in SPEND_LIMIT_CODES else None,
    )


def read_events(
    events: Generator[ServerSentEvent, None, None], *, provider: str, secret: str
) -> Generator[StreamEvent, None, None]:
    """The neutral events of a Messages API stream, ending in the stream's end; every
    failure is a ``ProviderError``. ``ping`` and unnamed events are skipped, as the SDK
    skips them; the ``error`` event (``overloaded_error``, ``api_error``) ends the stream
    with ``stream_failed``. Closing this closes ``events`` (and its connection)."""
    reader = EventReader()
    try:
        for event in events:
            if event.event in ("ping", "message") or not event.data:
                continue
            if event.event == "error":
                message = upstream_message(error_body(event.data.encode()), 200, secret)
                raise stream_failed(message, provider=provider)
            try:
                data = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                raise malformed_reply("a stream event is not valid JSON") from None
            yield from reader.feed(data)
        yield reader.end()
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
        # Messages go over the wire directly (providers/json_wire.py), to the URL the SDK
        # would use (its default, or ANTHROPIC_BASE_URL, when the instance sets no base_url).
        base_url = str(self._client.base_url).rstrip("/")
        self._messages_url = f"{base_url}/v1/messages"
        self._headers = {"x-api-key": self._api_key, "anthropic-version": ANTHROPIC_VERSION}
        status_error = functools.partial(
            anthropic_status_error, provider=self.instance, secret=self._api_key
        )
        self._wire = JsonWire(
            base_url,
            timeout=config.timeout_seconds,
            provider=self.instance,
            status_error=status_error,
        )

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One Messages API call; every failure is a ``ProviderError``."""
        body = to_anthropic_request(request, self._default_max_tokens)
        payload = self._wire.post(self._messages_url, body, self._headers)
        try:
            response = from_anthropic_message(payload)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None
        return as_json_text(response) if forces_output_tool(request) else response

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        """The Messages API's event stream; every failure is a ``ProviderError`` (see
        ``providers.base.Provider.stream``)."""
        body = {**to_anthropic_request(request, self._default_max_tokens), "stream": True}
        raw = self._wire.events(self._messages_url, body, self._headers)
        events = read_events(raw, provider=self.instance, secret=self._api_key)
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
        """Close the connection pools."""
        self._client.close()
        self._wire.close()
