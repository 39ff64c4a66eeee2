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

import httpx
import orjson

from gateway.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from providers.config import InstanceConfig
from providers.credentials import Credentials
from providers.ollama_format import chat_request_to_ollama, chat_response_from_ollama
from providers.types import ChatRequest, ChatResponse
from providers.upstream_errors import AUTH_FAILED, parse_retry_after, upstream_message

# Where ``ollama serve`` listens by default.
DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"


def map_ollama_error(response: httpx.Response, *, provider: str) -> ProviderError:
    """Translate an HTTP error answer (``{"error": "..."}``) into the gateway's hierarchy;
    the one place that does."""
    status = response.status_code
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None  # a proxy's HTML page, say: not shown
    error = body.get("error") if isinstance(body, dict) else None
    message = upstream_message({"message": error} if isinstance(error, str) else None, status, None)
    retry_after = parse_retry_after(response.headers)

    def make(cls: type[ProviderError], text: str) -> ProviderError:
        return cls(text, provider=provider, upstream_status=status, retry_after=retry_after)

    if status == 429:  # Ollama itself does not limit; a proxy in front of it may
        return make(ProviderRateLimited, f"the provider rate-limited the request: {message}")
    if status in (401, 403):
        # An authenticating proxy refused the operator's credential: a 502, never retried.
        return make(ProviderError, AUTH_FAILED)
    if status == 408 or status >= 500:
        return make(ProviderUnavailable, f"the provider failed: {message}")
    # 404 is Ollama's "model ... not found, try pulling it first": the caller's model choice.
    return make(ProviderRejected, message)


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
        except httpx.TimeoutException:
            raise ProviderUnavailable(
                "the provider did not answer in time", provider=self.instance
            ) from None
        except httpx.TransportError:
            raise ProviderUnavailable(
                "could not connect to the provider", provider=self.instance
            ) from None
        except httpx.HTTPError as exc:  # a broken response (decoding, redirects)
            failure = f"the provider call failed ({type(exc).__name__})"
            raise ProviderError(failure, provider=self.instance) from None
        if response.status_code != 200:
            raise map_ollama_error(response, provider=self.instance)
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ProviderError("the provider sent invalid JSON", provider=self.instance) from None
        if not isinstance(payload, dict):
            raise ProviderError("the provider sent a non-object answer", provider=self.instance)
        try:
            return chat_response_from_ollama(payload, call_id=_new_call_id)
        except ProviderError as exc:
            raise ProviderError(exc.message, provider=self.instance) from None

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
