"""Ollama embeddings: ``POST /api/embed`` with ``{"model", "input": [...], "dimensions",
"truncate": false}``, answered with ``{"embeddings": [[...]], "prompt_eval_count"}``.
``truncate`` is off: an input beyond the model's context is an error, as at OpenAI, not
silently cut."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.embeddings import EmbeddingRequest, read_vectors, token_count

EMBED_PATH = "/api/embed"


def embed_body(request: EmbeddingRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "input": list(request.inputs),
        "truncate": False,
    }
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    return body


def embed_vectors(body: Mapping[str, Any], expected: int) -> tuple[list[list[float]], int]:
    vectors = read_vectors(body.get("embeddings"), expected, "embeddings")
    return vectors, token_count(body.get("prompt_eval_count"))
