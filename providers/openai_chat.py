"""The OpenAI chat-completions adapter.

The SDK's own retries are off: retrying is the gateway's job, and a hidden SDK retry would
double-count against the instance's global rate limits.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Literal

import openai
from openai._constants import RAW_RESPONSE_HEADER
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from gateway.credentials import Credentials
from gateway.errors import ProviderError
from providers.config import InstanceConfig
from providers.embeddings import EmbeddingRequest, EmbeddingResponse
from providers.openai_embeddings import (
    embedding_request_to_openai,
    embedding_response_from_openai,
)
from providers.openai_format import chat_request_to_openai, chat_response_from_openai
from providers.openai_stream import ChunkReader
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

# Usage arrives only when asked for, in a chunk of its own before [DONE].
STREAM_OPTIONS = {"include_usage": True}


def map_openai_stream_error(
    exc: openai.OpenAIError | ValueError, *, provider: str, api_key: str
) -> ProviderError:
    """Translate what the SDK raises while reading a stream it opened with a 200: the
    provider's error chunk (a plain ``APIError``, ``{"error": {...}}``), the connection
    failing (cut short, or silent past the timeout), a chunk that is not JSON."""
    match exc:
        case openai.APITimeoutError():
            return timed_out(provider)
        case openai.APIConnectionError():
            return stream_cut_short(provider=provider)
        case openai.APIStatusError():
            return map_openai_error(exc, provider=provider, api_key=api_key)
        case openai.APIError():
            message = upstream_message(exc.body, 200, api_key)
            return stream_failed(message, provider=provider)
        case ValueError():
            return malformed_reply("a stream event is not valid JSON", provider=provider)
        case _:
            return call_failed(exc, provider=provider)


def stream_openai(
    client: openai.OpenAI, body: dict[str, Any], *, provider: str, secret: str
) -> Generator[StreamEvent, None, None]:
    """``body`` (the wire format) as a stream through ``client``, translated; OpenAI's and
    Azure's adapters share it. Raw JSON chunks rather than the SDK's models, as ``complete``
    reads its reply: the SDK still decodes the SSE, raises the provider's error chunk and
    wraps connection failures."""
    try:
        raw = post_chat(client, {**body, "stream": True, "stream_options": STREAM_OPTIONS})
    except openai.OpenAIError as exc:
        # "from None": the SDK error holds the request, its credential header included.
        raise map_openai_error(exc, provider=provider, api_key=secret) from None
    check_stream_type(
        raw.http_response.headers.get("content-type"), "text/event-stream", provider=provider
    )
    chunks: openai.Stream[object] = raw.parse(to=openai.Stream[object])
    reader = ChunkReader()
    try:
        for chunk in chunks:
            yield from reader.feed(chunk)
        yield reader.end()
    except (openai.OpenAIError, ValueError) as exc:
        raise map_openai_stream_error(exc, provider=provider, api_key=secret) from None
    except ProviderError as exc:
        raise for_instance(exc, provider) from None
    finally:
        chunks.close()


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
    if isinstance(exc, openai.RateLimitError) and exc.code == "insufficient_quota":
        return ProviderError(
            f"the provider account is out of quota: {message}",
            provider=provider,
            upstream_status=status,
            retry_after=retry_after,
        )
    return error_for_status(status, message, provider=provider, retry_after=retry_after)


def post_chat(client: openai.OpenAI, body: dict[str, Any]) -> Any:
    """``client.chat.completions.with_raw_response.create(**body)`` without its parameter
    transform: ``body`` is already the wire format (``chat_request_to_openai``), and the
    SDK's walk of it against the typed parameters (a copy, as the chat parameters have no
    aliases) cost 0.4-1 ms of the worker's CPU per call (docs/benchmarks.md). The same
    request (an Azure client still rewrites the path to the deployment), headers, errors
    and raw response; with ``"stream": true`` in ``body``, a response to read as a stream
    before the first chunk is read (as ``create(stream=True)`` returns it)."""
    stream = body.get("stream") is True
    return client.post(
        "/chat/completions",
        body=body,
        options={"headers": {RAW_RESPONSE_HEADER: "true"}},
        cast_to=ChatCompletion,
        stream=stream,
        stream_cls=openai.Stream[ChatCompletionChunk] if stream else None,
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

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One chat completion; every failure is a ``ProviderError``."""
        body = chat_request_to_openai(request, max_tokens_field=self._max_tokens_field)
        try:
            # The raw response skips building the SDK's pydantic models only to dump them
            # again: about a millisecond per call. Errors are raised exactly as before.
            raw = self._post_chat(body)
            payload = decode_reply(
                raw.http_response.content,
                raw.http_response.headers.get("content-type"),
                provider=self.instance,
            )
        except openai.OpenAIError as exc:
            # "from None": the SDK error holds the request, Authorization header included.
            raise map_openai_error(exc, provider=self.instance, api_key=self._api_key) from None
        try:
            return chat_response_from_openai(payload)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def _post_chat(self, body: dict[str, Any]) -> Any:
        return post_chat(self._client, body)

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        """The completion as SSE chunks (``stream_options.include_usage`` on); every failure
        is a ``ProviderError`` (see ``providers.base.Provider.stream``)."""
        body = chat_request_to_openai(request, max_tokens_field=self._max_tokens_field)
        return stream_openai(self._client, body, provider=self.instance, secret=self._api_key)

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
        """Close the SDK's connection pool."""
        self._client.close()
