"""OpenAI's chat-completions wire, which Azure OpenAI shares: the call posted or streamed
over :class:`providers.json_wire.JsonWire`, OpenAI's error replies and its stream's chunks
(``data: {...}`` up to ``data: [DONE]``, an ``{"error": ...}`` chunk for a failure)."""

from __future__ import annotations

import functools
from collections.abc import Generator, Mapping
from typing import Any

import orjson

from gateway.errors import ProviderError
from providers.json_wire import JsonWire
from providers.sse import ServerSentEvent
from providers.upstream_errors import (
    OUT_OF_QUOTA,
    error_body,
    error_for_status,
    malformed_reply,
    parse_retry_after,
    stream_failed,
    upstream_message,
)

# Usage arrives only when asked for, in a chunk of its own before [DONE].
STREAM_OPTIONS = {"include_usage": True}


class OpenAIWire:
    """One connection pool for an OpenAI-shaped server; ``provider`` (the instance) and
    ``secret`` (scrubbed from any message the server echoes) name its errors."""

    def __init__(self, base_url: str, *, timeout: float, provider: str, secret: str) -> None:
        self.provider = provider
        self._secret = secret
        status_error = functools.partial(openai_status_error, provider=provider, secret=secret)
        self.wire = JsonWire(
            base_url, timeout=timeout, provider=provider, status_error=status_error
        )

    def post(self, url: str, body: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
        """The reply's JSON object; every failure is a ``ProviderError``."""
        return self.wire.post(url, body, headers)

    def stream(
        self, url: str, body: dict[str, Any], headers: Mapping[str, str]
    ) -> Generator[object, None, None]:
        """The decoded chunks of the stream ``body`` asks for (``stream`` and usage are set
        here), each as it arrives, up to ``[DONE]``; every failure is a ``ProviderError``."""
        body = {**body, "stream": True, "stream_options": STREAM_OPTIONS}
        events = self.wire.events(url, body, headers, last=_is_done)
        try:
            for event in events:
                yield self._chunk(event.data)
        finally:
            events.close()

    def close(self) -> None:
        self.wire.close()

    def _chunk(self, data: str) -> object:
        """One event's chunk; ``stream_failed`` for the provider's error chunk."""
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            error = malformed_reply("a stream event is not valid JSON", provider=self.provider)
            raise error from None
        if isinstance(chunk, dict) and chunk.get("error"):
            raise stream_failed(upstream_message(chunk, 200, self._secret), provider=self.provider)
        return chunk


def openai_status_error(
    status: int, headers: Mapping[str, str], content: bytes, *, provider: str, secret: str
) -> ProviderError:
    """An error reply, translated. OpenAI's own case: an exhausted quota
    (``insufficient_quota``) is a 429 too, but waiting will not help, so it is not retryable.
    The status goes through the shared ladder."""
    body = error_body(content)
    error = body.get("error") if isinstance(body, dict) else None
    quota = status == 429 and isinstance(error, dict) and error.get("code") == "insufficient_quota"
    return error_for_status(
        status,
        upstream_message(body, status, secret),
        provider=provider,
        retry_after=parse_retry_after(headers),
        account_limit=OUT_OF_QUOTA if quota else None,
    )


def _is_done(event: ServerSentEvent) -> bool:
    return event.data.startswith("[DONE]")
