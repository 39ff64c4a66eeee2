"""The Vertex AI Gemini adapter: ``generateContent`` over the documented REST API.

``POST {base_url}/v1/projects/{project}/locations/{region}/publishers/google/models/{model}
:generateContent`` with an OAuth access token (``:streamGenerateContent?alt=sse`` to stream,
the same body answered as server-sent events). google-auth gets the token: for a
service-account key (credential field ``service_account_json``, the key file's JSON) it
posts a signed JWT to the key's ``token_uri``; otherwise Google's application default
credentials (workload identity, ``GOOGLE_APPLICATION_CREDENTIALS``, the metadata server).

Why httpx rather than the google-genai SDK, which can take this base URL with retries off:
the SDK revalidates the whole request into its pydantic models and converts it back on
every call: measured against a local server, 5 ms per call for a short tool conversation
and 31 ms for a 40-message one, where a plain httpx post takes 1.3 to 1.7 ms. It also
rewrites nested fields in snake_case (``inlineData.mime_type``). The body here is the
documented one.

Claude models (an upstream name starting ``claude-``) go to Anthropic's publisher path,
``.../publishers/anthropic/models/{model}:rawPredict`` (``:streamRawPredict``), with the
same token and errors: :mod:`providers.vertex_claude`.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport.requests
import httpx
import orjson

from gateway.credentials import Credentials
from gateway.errors import ProviderError, ProviderRejected, ProviderUnavailable
from providers.anthropic_format import default_max_tokens
from providers.config import InstanceConfig
from providers.embeddings import EmbeddingRequest, EmbeddingResponse, embed_in_batches
from providers.output_tool import forces_output_tool, stream_as_json_text
from providers.sse import server_sent_events
from providers.streaming import StreamEnd, StreamEvent
from providers.types import ChatRequest, ChatResponse
from providers.upstream_errors import (
    AUTH_FAILED,
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
from providers.vertex_auth import AccessTokens, key_lines, loader
from providers.vertex_claude import (
    ClaudeEvents,
    claude_body,
    claude_response,
    is_claude,
)
from providers.vertex_count import (
    CLAUDE_COUNT_METHOD,
    claude_count_request,
    claude_input_tokens,
    gemini_count_request,
    total_tokens,
)
from providers.vertex_embeddings import predict_batch_size, predict_body, predict_vectors
from providers.vertex_format import chat_response_from_gemini, gemini_request
from providers.vertex_stream import ChunkReader

# google.rpc.Code names of transient failures (Google may use them with other HTTP codes).
_TRANSIENT = frozenset(("UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "ABORTED"))
_SECONDS = re.compile(r"(\d+(?:\.\d+)?)s")


def _retry_delay(body: object) -> float | None:
    """``RetryInfo.retryDelay`` ("12.5s") from a Google error's details, if any."""
    error = body.get("error") if isinstance(body, Mapping) else None
    details = error.get("details") if isinstance(error, Mapping) else None
    for detail in details if isinstance(details, list) else []:
        delay = detail.get("retryDelay") if isinstance(detail, Mapping) else None
        if isinstance(delay, str) and (match := _SECONDS.fullmatch(delay)):
            return float(match[1])
    return None


def map_vertex_error(
    failure: httpx.Response | Exception, *, provider: str, scrub: Callable[[str], str]
) -> ProviderError:
    """Translate a failed call (an error response, an httpx or google-auth exception) into
    the gateway's hierarchy; the one place that does."""
    match failure:
        case google.auth.exceptions.DefaultCredentialsError():
            text = f"{AUTH_FAILED}: no Google application default credentials found"
            return ProviderError(text, provider=provider)
        case google.auth.exceptions.RefreshError() if failure.retryable:
            text = "the Google token endpoint failed"
            return ProviderUnavailable(text, provider=provider)
        case google.auth.exceptions.RefreshError():
            # google-auth puts the endpoint's "error: error_description" first.
            reason = scrub(str(failure.args[0]) if failure.args else "")[:200]
            text = f"{AUTH_FAILED}: the access-token exchange was refused ({reason})"
            return ProviderError(text, provider=provider)
        case google.auth.exceptions.TransportError():
            text = "could not reach the Google token endpoint"
            return ProviderUnavailable(text, provider=provider)
        case httpx.TimeoutException():
            return timed_out(provider)
        case httpx.TransportError():
            return unreachable(provider)
        case Exception():
            return call_failed(failure, provider=provider)
    return _status_error(failure, provider=provider, scrub=scrub)


def _status_error(
    failure: httpx.Response, *, provider: str, scrub: Callable[[str], str]
) -> ProviderError:
    """Google's own cases: the ``retry-after`` header may be missing where the body's
    ``RetryInfo`` says how long to wait, and a ``google.rpc.Code`` that names a transient
    failure is retried whatever HTTP status came with it."""
    status = failure.status_code
    try:
        body = failure.json()
    except ValueError:
        body = None
    if isinstance(body, list) and body:  # some Google front ends wrap the error in a list
        body = body[0]
    error = body.get("error") if isinstance(body, Mapping) else None
    code = error.get("status") if isinstance(error, Mapping) else None
    message = scrub(upstream_message(body, status, None))
    retry_after = parse_retry_after(failure.headers)
    if retry_after is None:
        retry_after = _retry_delay(body)
    mapped = error_for_status(status, message, provider=provider, retry_after=retry_after)
    if code in _TRANSIENT and type(mapped) is ProviderRejected:
        return ProviderUnavailable(
            f"the provider failed: {message}",
            provider=provider,
            upstream_status=status,
            retry_after=retry_after,
        )
    return mapped


class VertexGeminiProvider:
    """Gemini (and Claude) on Vertex AI. Needs ``project`` and ``region`` (``global`` works
    too); ``base_url`` defaults to the region's endpoint, ``api_version`` to ``v1``.

    Options: ``default_max_tokens`` (default 4096), sent to Claude models when the request
    sets no limit, because the Messages API requires one.
    """

    def __init__(self, config: InstanceConfig, credentials: Credentials) -> None:
        if not config.project or not config.region:
            raise ValueError(f"{config.name}: vertex instances need project and region")
        self.instance = config.name
        self._credentials = credentials
        host = "aiplatform.googleapis.com"
        default_url = (
            f"https://{host}" if config.region == "global" else f"https://{config.region}-{host}"
        )
        base = (config.base_url or default_url).rstrip("/")
        location = f"projects/{config.project}/locations/{config.region}"
        publishers = f"{base}/{config.api_version or 'v1'}/{location}/publishers"
        self._models_url = f"{publishers}/google/models/"
        self._claude_url = f"{publishers}/anthropic/models/"
        self._max_tokens = default_max_tokens(config.options, config.name)
        self._tokens = AccessTokens(loader(config, credentials), config.timeout_seconds)
        self._key_lines = key_lines(credentials.get("service_account_json"))
        self._client = httpx.Client(timeout=config.timeout_seconds)

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One ``generateContent`` call (``rawPredict`` for Claude); every failure is a
        ``ProviderError``."""
        claude = is_claude(request.model)
        if claude:
            body = claude_body(request, self._max_tokens)
            payload = self._call(request.model, "rawPredict", body)
        else:
            payload = self._call(request.model, "generateContent", gemini_request(request))
        try:
            if claude:
                return claude_response(payload, request)
            return chat_response_from_gemini(payload, request.model)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        """The ``streamGenerateContent`` chunks as server-sent events (Claude's
        ``streamRawPredict`` events); every failure is a ``ProviderError`` (see
        ``providers.base.Provider.stream``)."""
        if is_claude(request.model):
            body = orjson.dumps(claude_body(request, self._max_tokens, stream=True))
            url = self._url(request.model, "streamRawPredict")
            events = ClaudeEvents(self.instance, self._scrub)
            stream = self._stream(url, body, events.feed, events.end)
            return stream_as_json_text(stream) if forces_output_tool(request) else stream
        body = orjson.dumps(gemini_request(request))
        url = self._url(request.model, "streamGenerateContent") + "?alt=sse"
        chunks = ChunkReader(request.model)
        return self._stream(url, body, lambda data: chunks.feed(self._chunk(data)), chunks.end)

    def _stream(
        self,
        url: str,
        body: bytes,
        feed: Callable[[str], Iterable[StreamEvent]],
        end: Callable[[], StreamEnd],
    ) -> Generator[StreamEvent, None, None]:
        """POST and read the reply's server-sent events: ``feed`` turns one event's data
        into neutral events, ``end`` gives the end once the body has ended."""
        reply = self._post(url, body, stream=True)
        try:
            if reply.status_code != 200:
                reply.read()
                raise map_vertex_error(reply, provider=self.instance, scrub=self._scrub)
            content_type = reply.headers.get("content-type")
            check_stream_type(content_type, "text/event-stream", provider=self.instance)
            for event in server_sent_events(reply.iter_lines()):
                yield from feed(event.data)
            yield end()
        except httpx.HTTPError as exc:
            # The 200 is in: a connection failing now cut the stream short.
            if isinstance(exc, httpx.TimeoutException):
                raise timed_out(self.instance) from None
            raise stream_cut_short(provider=self.instance) from None
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None
        finally:
            reply.close()

    def _chunk(self, data: str) -> object:
        """One event's chunk; ``stream_failed`` for Google's ``{"error": ...}`` in its place."""
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise malformed_reply("a stream event is not valid JSON") from None
        if isinstance(chunk, dict) and "error" in chunk:
            message = self._scrub(upstream_message(chunk, 200, None))
            raise stream_failed(message, provider=self.instance)
        return chunk

    def count_tokens(self, request: ChatRequest) -> int:
        """Vertex's count of the request's input tokens (one ``countTokens`` call); every
        failure is a ``ProviderError``. Claude's is Anthropic's count, in Vertex's envelope."""
        try:
            if is_claude(request.model):
                url = f"{self._claude_url}{CLAUDE_COUNT_METHOD}"
                return claude_input_tokens(self._call_url(url, claude_count_request(request)))
            payload = self._call(request.model, "countTokens", gemini_count_request(request))
            return total_tokens(payload)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """``:predict`` calls on the text-embedding model, as many texts per call as the
        model takes; every failure is a ``ProviderError``."""

        def predict(texts: tuple[str, ...]) -> tuple[list[list[float]], int]:
            body = predict_body(texts, request.dimensions)
            return predict_vectors(self._call(request.model, "predict", body), len(texts))

        try:
            return embed_in_batches(request, predict_batch_size(request.model), predict)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def _call(self, model: str, method: str, body: object) -> dict[str, Any]:
        """``POST {model}:{method}`` with a JSON body: the reply's JSON object, or a
        ``ProviderError``."""
        return self._call_url(self._url(model, method), body)

    def _call_url(self, url: str, body: object) -> dict[str, Any]:
        response = self._post(url, orjson.dumps(body))
        if response.status_code != 200:
            raise map_vertex_error(response, provider=self.instance, scrub=self._scrub) from None
        return decode_reply(
            response.content, response.headers.get("content-type"), provider=self.instance
        )

    def _url(self, model: str, method: str) -> str:
        models = self._claude_url if is_claude(model) else self._models_url
        # "@" is a legal path character, left as is (as the anthropic SDK's AnthropicVertex
        # does): Vertex names Claude versions "claude-sonnet-4-5@20250929".
        return f"{models}{urllib.parse.quote(model, safe='@')}:{method}"

    def _post(self, url: str, body: bytes, *, stream: bool = False) -> httpx.Response:
        try:
            headers = self._tokens.headers()
            headers["Content-Type"] = "application/json"
            request = self._client.build_request("POST", url, content=body, headers=headers)
            return self._client.send(request, stream=stream)
        except (httpx.HTTPError, google.auth.exceptions.GoogleAuthError) as exc:
            # "from None": the exceptions hold the request, Authorization header included.
            raise map_vertex_error(exc, provider=self.instance, scrub=self._scrub) from None

    def _scrub(self, text: str) -> str:
        for secret in (self._tokens.current, *self._key_lines):
            if secret:
                text = text.replace(secret, "[redacted]")
        return self._credentials.redact(text)

    def close(self) -> None:
        """Close the connection pools."""
        self._client.close()
        self._tokens.close()
