"""Vertex AI text embeddings: ``POST .../publishers/google/models/{model}:predict`` with
``{"instances": [{"content"}], "parameters": {"outputDimensionality", "autoTruncate"}}``,
answered with ``{"predictions": [{"embeddings": {"values", "statistics": {"token_count"}}}]}``.

A call takes up to 250 texts (``text-embedding-*``, ``text-multilingual-embedding-*``),
but ``gemini-embedding-*`` models take one text per call. ``autoTruncate`` is off: an
over-long text is an error, as at OpenAI, not silently cut.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.embeddings import read_vectors, token_count

PREDICT_BATCH = 250


def predict_batch_size(model: str) -> int:
    return 1 if model.startswith("gemini-embedding") else PREDICT_BATCH


def predict_body(texts: tuple[str, ...], dimensions: int | None) -> dict[str, Any]:
    parameters: dict[str, Any] = {"autoTruncate": False}
    if dimensions is not None:
        parameters["outputDimensionality"] = dimensions
    return {"instances": [{"content": text} for text in texts], "parameters": parameters}


def predict_vectors(body: Mapping[str, Any], expected: int) -> tuple[list[list[float]], int]:
    """The vectors, and the tokens the statistics count."""
    predictions = body.get("predictions")
    if not isinstance(predictions, list):
        return read_vectors(predictions, expected, "predictions"), 0
    values: list[object] = []
    tokens = 0
    for prediction in predictions:
        embeddings = prediction.get("embeddings") if isinstance(prediction, Mapping) else None
        if not isinstance(embeddings, Mapping):
            embeddings = {}
        values.append(embeddings.get("values"))
        statistics = embeddings.get("statistics")
        if isinstance(statistics, Mapping):
            tokens += token_count(statistics.get("token_count"))
    return read_vectors(values, expected, "predictions[].embeddings.values"), tokens
