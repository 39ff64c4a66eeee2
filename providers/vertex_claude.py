"""Claude on Vertex AI: Anthropic's Messages API behind Vertex's ``rawPredict``.

Vertex serves Anthropic's models at ``.../publishers/anthropic/models/{model}:rawPredict``
(``:streamRawPredict`` for the event stream) with the Messages request body less ``model``
(it is in the path) plus ``"anthropic_version": "vertex-2023-10-16"`` (Anthropic's "Claude
on Vertex AI" page; the SDK's ``AnthropicVertex`` builds the same URL and body), and the
same OAuth token as Gemini. The reply, the stream's events and the model's errors are
Anthropic's own, so the wire mapping is :mod:`providers.anthropic_format` and
:mod:`providers.anthropic_stream`; this module adds the Vertex envelope and decides which
way a model goes: an upstream model name (after the instance's ``model_map``) starting with
``claude-`` is Anthropic's, every other one Gemini's. Vertex names Claude models
``claude-<name>@<date>``, so the prefix is the publisher, without a config field for it.

Pure: the API process runs :func:`check_vertex_request` on every request routed to a
``vertex`` instance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from providers.anthropic_format import (
    check_anthropic_request,
    from_anthropic_message,
    to_anthropic_request,
)
from providers.anthropic_stream import EventReader
from providers.output_tool import as_json_text, forces_output_tool
from providers.streaming import StreamEnd, StreamEvent
from providers.types import ChatRequest, ChatResponse
from providers.upstream_errors import malformed_reply, stream_failed, upstream_message
from providers.vertex_format import check_gemini_request

CLAUDE_PREFIX = "claude-"
VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"


def is_claude(model: str) -> bool:
    """Whether the upstream ``model`` is one of Anthropic's on Vertex."""
    return model.startswith(CLAUDE_PREFIX)


def claude_body(req: ChatRequest, max_tokens: int, *, stream: bool = False) -> dict[str, Any]:
    """The ``rawPredict`` body: Anthropic's, the model in the path, Vertex's version."""
    body = to_anthropic_request(req, max_tokens)
    del body["model"]
    body["anthropic_version"] = VERTEX_ANTHROPIC_VERSION
    if stream:
        body["stream"] = True
    return body


def claude_response(payload: Mapping[str, Any], req: ChatRequest) -> ChatResponse:
    """A ``rawPredict`` reply (a Messages ``message``) as the neutral response."""
    response = from_anthropic_message(payload)
    return as_json_text(response) if forces_output_tool(req) else response


class ClaudeEvents:
    """Reads one ``streamRawPredict`` stream, fed each SSE event's data. Unlike the SDK
    (which the anthropic adapter reads through), nothing has dropped ``ping`` (the reader
    skips it) or raised the ``error`` event: that is ``stream_failed`` here."""

    def __init__(self, instance: str, scrub: Callable[[str], str]) -> None:
        self._reader = EventReader()
        self._instance = instance
        self._scrub = scrub

    def feed(self, data: str) -> list[StreamEvent]:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise malformed_reply("a stream event is not valid JSON") from None
        if isinstance(event, dict) and event.get("type") == "error":
            message = self._scrub(upstream_message(event, 200, None))
            raise stream_failed(message, provider=self._instance)
        return self._reader.feed(event)

    def end(self) -> StreamEnd:
        return self._reader.end()


def check_vertex_request(req: ChatRequest) -> None:
    """Refuse what the model's API cannot carry (``req.model`` is the upstream name). The
    parameters were judged by the table's column for the model (``anthropic`` for Claude:
    ``providers.registry.check_request``); this is the wire mapping's own check."""
    if is_claude(req.model):
        check_anthropic_request(req)
    else:
        check_gemini_request(req)
