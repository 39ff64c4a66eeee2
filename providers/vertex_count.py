"""Vertex AI Gemini ``countTokens`` (``POST .../models/{model}:countTokens``): the wire
request and the count read from its answer, as pure functions.

Reference: https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/projects.locations.publishers.models/countTokens

The request holds the ``generateContent`` body's ``contents``, ``systemInstruction`` and
``tools`` exactly as :func:`providers.vertex_format.gemini_request` maps them;
``CountTokensRequest`` has no ``toolConfig``, ``labels`` or safety settings (Google refuses
unknown fields), and the generation options do not change the input's count. The answer is
``{"totalTokens", "promptTokensDetails", ...}``.

Claude on Vertex counts with Anthropic's count request (the model in the body, Vertex's
``anthropic_version``) at ``.../publishers/anthropic/models/count-tokens:rawPredict``, as
the anthropic SDK's ``AnthropicVertex`` sends it; the answer is ``{"input_tokens"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.anthropic_format import to_anthropic_count_request
from providers.types import ChatRequest
from providers.upstream_errors import malformed_reply
from providers.vertex_claude import VERTEX_ANTHROPIC_VERSION
from providers.vertex_format import gemini_request

# Claude's count has no model in its path: one endpoint for every Claude model.
CLAUDE_COUNT_METHOD = "count-tokens:rawPredict"

# What CountTokensRequest takes of a generateContent body.
_COUNTED = ("contents", "systemInstruction", "tools")


def gemini_count_request(req: ChatRequest) -> dict[str, Any]:
    """The ``countTokens`` request body. ``InvalidRequest`` for what cannot map, as for a
    generation."""
    body = gemini_request(req)
    return {key: body[key] for key in _COUNTED if key in body}


def total_tokens(body: Mapping[str, Any]) -> int:
    """``totalTokens`` of a ``CountTokensResponse``; a malformed reply without one."""
    tokens = body.get("totalTokens")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise malformed_reply("totalTokens is missing or not a count")
    return tokens


def claude_count_request(req: ChatRequest) -> dict[str, Any]:
    """Anthropic's ``count_tokens`` body in Vertex's envelope."""
    return {**to_anthropic_count_request(req), "anthropic_version": VERTEX_ANTHROPIC_VERSION}


def claude_input_tokens(body: Mapping[str, Any]) -> int:
    """``input_tokens`` of Anthropic's count answer; a malformed reply without one."""
    tokens = body.get("input_tokens")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise malformed_reply("input_tokens is missing or not a count")
    return tokens
