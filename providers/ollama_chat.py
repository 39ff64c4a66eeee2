"""The Ollama adapter: the documented HTTP API (``POST {base_url}/api/chat``) over httpx.

Not the ``ollama`` Python package, although its errors carry the HTTP status and it does not
retry: its request models silently drop tool-schema keywords they do not declare (nested
``properties``, ``pattern``, ``minimum``, ``additionalProperties``, ...), it reads a local
file when an image string happens to be an existing path, it discards the response headers
(``retry-after``), and it sends ``OLLAMA_API_KEY`` from the environment to whatever host it
talks to. The API is one JSON POST; httpx does it without those surprises, and without
retries (httpx never retries a request).
"""

from __future__ import annotations

import secrets
from collections.abc import Generator

import httpx
import orjson

from gateway.credentials import Credentials
from gateway.errors import ProviderError
from providers.config import InstanceConfig
from providers.embeddings import EmbeddingRequest, EmbeddingResponse, checked
from providers.ollama_embeddings import EMBED_PATH, embed_body, embed_vectors
from providers.ollama_format import chat_request_to_ollama, chat_response_from_ollama
from providers.ollama_stream import LineReader
from providers.streaming import StreamEvent
from providers.types import ChatRequest, ChatResponse, Usage
from providers.upstream_errors import (
    call_failed,
    check_stream_type,
    decode_reply,
    error_for_status,
    for_instance,
    parse_retry_after,
    stream_cut_short,
    timed_out,
    unreachable,
    upstream_message,
)

# What Ollama answers a streamed chat with: one JSON object per line.
NDJSON = "application/x-ndjson"

# Where ``ollama serve`` listens by default.
DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"


def map_ollama_error(failure: httpx.Response | httpx.HTTPError, *, provider: str) -> ProviderError:
    """Translate a failed call (an error answer, ``{"error": "..."}``, or an httpx exception)
    into the gateway's hierarchy; the one place that does.

    Ollama has no special cases: it does not limit (a 429 or a 401 comes from a proxy in
    front of it), and its 404 "model ... not found, try pulling it first" is the caller's
    model choice, rejected by the ladder like any other 4xx.
    """
    match failure:
        case httpx.TimeoutException():
            return timed_out(provider)
        case httpx.TransportError():
            return unreachable(provider)
        case httpx.HTTPError():  # a broken response (decoding, redirects)
            return call_failed(failure, provider=provider)
    status = failure.status_code
    try:
        body = orjson.loads(failure.content)
    except orjson.JSONDecodeError:
        body = None  # a proxy's HTML page, say: not shown
    error = body.get("error") if isinstance(body, dict) else None
    message = upstream_message({"message": error} if isinstance(error, str) else None, status, None)
    retry_after = parse_retry_after(failure.headers)
    return error_for_status(status, message, provider=provider, retry_after=retry_after)


def _new_call_id(index: int) -> str:
    # Unique across a conversation: a session or a fallback provider (Anthropic refuses
    # duplicate tool-use ids) may see several turns' calls side by side.
    return f"call_{secrets.token_hex(12)}"


class OllamaChatProvider:
    """A local or remote Ollama server. No credentials; ``base_url`` defaults to
    ``http://127.0.0.1:11434``."""

    def __init__(self, config: InstanceConfig, credentials: Credentials) -> None:
        self.instance = config.name
        self._client = httpx.Client(
            base_url=(config.base_url or DEFAULT_OLLAMA_URL).rstrip("/"),
            timeout=config.timeout_seconds,
            headers={"accept": "application/json"},
        )

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One non-streamed chat; every failure is a ``ProviderError``."""
        body = orjson.dumps(chat_request_to_ollama(request))
        headers = {"content-type": "application/json"}
        try:
            response = self._client.post("/api/chat", content=body, headers=headers)
        except httpx.HTTPError as exc:
            # "from None": the exception holds the request.
            raise map_ollama_error(exc, provider=self.instance) from None
        if response.status_code != 200:
            raise map_ollama_error(response, provider=self.instance)
        payload = decode_reply(
            response.content, response.headers.get("content-type"), provider=self.instance
        )
        try:
            return chat_response_from_ollama(payload, call_id=_new_call_id)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        """The chat streamed as NDJSON lines; every failure is a ``ProviderError`` (see
        ``providers.base.Provider.stream``)."""
        body = orjson.dumps(chat_request_to_ollama(request, stream=True))
        return self._stream(body)

    def _stream(self, body: bytes) -> Generator[StreamEvent, None, None]:
        headers = {"content-type": "application/json", "accept": NDJSON}
        reader = LineReader(call_id=_new_call_id)
        opened = False  # the 200 is in: a connection failing now cut the stream short
        try:
            with self._client.stream("POST", "/api/chat", content=body, headers=headers) as reply:
                if reply.status_code != 200:
                    reply.read()
                    raise map_ollama_error(reply, provider=self.instance)
                content_type = reply.headers.get("content-type")
                check_stream_type(content_type, NDJSON, provider=self.instance)
                opened = True
                for line in reply.iter_lines():
                    yield from reader.feed(line)
            yield reader.end()
        except httpx.HTTPError as exc:
            cut = opened and not isinstance(exc, httpx.TimeoutException)
            failure = stream_cut_short(provider=self.instance) if cut else None
            # "from None": the exception holds the request.
            raise failure or map_ollama_error(exc, provider=self.instance) from None
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """One ``POST /api/embed`` with every text; every failure is a ``ProviderError``."""
        body = orjson.dumps(embed_body(request))
        headers = {"content-type": "application/json"}
        try:
            response = self._client.post(EMBED_PATH, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise map_ollama_error(exc, provider=self.instance) from None
        if response.status_code != 200:
            raise map_ollama_error(response, provider=self.instance)
        payload = decode_reply(
            response.content, response.headers.get("content-type"), provider=self.instance
        )
        try:
            vectors, tokens = embed_vectors(payload, len(request.inputs))
            return checked(vectors, Usage(prompt_tokens=tokens), request.model, request)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
