"""Claude on Vertex AI:
``POST /v1/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict``, and
``:streamRawPredict``, which answers as server-sent events, and the token count at
``.../publishers/anthropic/models/count-tokens:rawPredict`` (the model in the body there).

The Anthropic Messages protocol (:mod:`emulator.protocols.anthropic_messages`: its
parsing, replies, stream events and error bodies) behind Vertex's envelope: the model is
in the path, so the body must not carry one, and the body must carry
``"anthropic_version": "vertex-2023-10-16"`` instead of the ``anthropic-version`` header.
Requests need a Bearer token from the emulated Google token endpoint, the one the Gemini
protocol serves (the same :class:`GoogleTokens`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from emulator.behaviour import Turn
from emulator.protocols.anthropic_messages import AnthropicMessages
from emulator.protocols.base import RequestError
from emulator.protocols.google_oauth import GoogleTokens

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
_MODELS = "/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{model}"


class VertexAnthropic(AnthropicMessages):
    """Anthropic's Messages protocol as Vertex AI serves it."""

    name: ClassVar[str] = "vertex_anthropic"
    path: ClassVar[str] = _MODELS + ":rawPredict"
    stream_path: ClassVar[str | None] = _MODELS + ":streamRawPredict"
    count_path: ClassVar[str | None] = (
        "/v1/projects/{project}/locations/{location}/publishers/anthropic/models/"
        "count-tokens:rawPredict"
    )
    missing_key_message: ClassVar[str] = (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential (emulated)."
    )

    def __init__(self, tokens: GoogleTokens) -> None:
        self.tokens = tokens

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """Only a Bearer token the (Gemini protocol's) token endpoint issued."""
        return self.tokens.authorized(headers)

    def recorded_auth(self, headers: Mapping[str, str]) -> dict[str, str] | None:
        """When (and for which service account) the request's token was issued."""
        return self.tokens.describe(headers)

    def parse(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """Check Vertex's envelope, then parse the Messages request with the path's model."""
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object.")
        if "model" in body:
            raise RequestError("model: Extra inputs are not permitted", param="model")
        messages_body = _without_version(body)
        return super().parse({**messages_body, "model": path_params.get("model", "")}, {})

    def count_turn(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """Anthropic's count request (the model in the body) in Vertex's envelope."""
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object.")
        body = _without_version(body)
        if "max_tokens" in body:
            raise RequestError("max_tokens: Extra inputs are not permitted", param="max_tokens")
        # Anthropic's own parsing: this protocol's ``parse`` refuses a model in the body.
        return AnthropicMessages.parse(self, {**body, "max_tokens": 1}, path_params)


def _without_version(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` less its required ``anthropic_version`` (Vertex's, not the header)."""
    version = body.get("anthropic_version")
    if version != VERTEX_ANTHROPIC_VERSION:
        raise RequestError(
            f"anthropic_version: must be {VERTEX_ANTHROPIC_VERSION!r}, not {version!r}",
            param="anthropic_version",
        )
    return {k: v for k, v in body.items() if k != "anthropic_version"}
