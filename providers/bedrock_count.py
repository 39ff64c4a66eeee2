"""Bedrock ``CountTokens`` (``POST /model/{modelId}/count-tokens``): the wire request and
the count read from its answer, as pure functions.

The request is ``{"modelId", "input": {"converse": {...}}}``, the Converse call's input
(``messages``, ``system``, ``toolConfig``: ``ConverseTokensRequest`` has no other member the
gateway sends) exactly as :func:`providers.bedrock_format.to_converse_request` maps it, so
the count is of what a generation would send. The answer is ``{"inputTokens"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.bedrock_format import to_converse_request
from providers.types import ChatRequest
from providers.upstream_errors import malformed_reply

# What ConverseTokensRequest takes of a Converse request (botocore's service model).
_COUNTED = ("messages", "system", "toolConfig")


def to_count_tokens_request(req: ChatRequest) -> dict[str, Any]:
    """Keyword arguments for ``client.count_tokens``. ``InvalidRequest`` for what Converse
    cannot carry, as for a generation."""
    converse = to_converse_request(req)
    counted = {key: converse[key] for key in _COUNTED if key in converse}
    return {"modelId": converse["modelId"], "input": {"converse": counted}}


def input_tokens(body: Mapping[str, Any]) -> int:
    """``inputTokens`` of a ``CountTokensResponse``; a malformed reply without one."""
    tokens = body.get("inputTokens")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise malformed_reply("inputTokens is missing or not a count")
    return tokens
