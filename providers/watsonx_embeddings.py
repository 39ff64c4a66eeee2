"""watsonx.ai embeddings: ``POST {base_url}/ml/v1/text/embeddings?version=...`` with
``{"inputs", "model_id", "project_id" | "space_id"}``, answered with
``{"results": [{"embedding"}], "input_token_count"}``. The API has no way to shorten
vectors: ``dimensions`` is refused. A call takes up to 1,000 texts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.embeddings import EmbeddingRequest, read_vectors, refuse_dimensions, token_count

EMBEDDINGS_PATH = "/ml/v1/text/embeddings"
EMBED_BATCH = 1000


def embeddings_url(base_url: str, api_version: str) -> str:
    return f"{base_url.rstrip('/')}{EMBEDDINGS_PATH}?version={api_version}"


def check_watsonx_embedding(request: EmbeddingRequest, model: str, where: str) -> None:
    refuse_dimensions(request, where)


def embeddings_body(
    model: str, texts: tuple[str, ...], *, project_id: str | None, space_id: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"inputs": list(texts), "model_id": model}
    if space_id:
        body["space_id"] = space_id
    else:
        body["project_id"] = project_id
    return body


def embeddings_vectors(body: Mapping[str, Any], expected: int) -> tuple[list[list[float]], int]:
    results = body.get("results")
    values = (
        [r.get("embedding") if isinstance(r, Mapping) else None for r in results]
        if isinstance(results, list)
        else results
    )
    vectors = read_vectors(values, expected, "results[].embedding")
    return vectors, token_count(body.get("input_token_count"))
