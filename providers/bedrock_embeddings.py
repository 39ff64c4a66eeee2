"""Bedrock embeddings: ``InvokeModel`` with the model family's own JSON body.

Amazon Titan Text Embeddings takes one text per call, ``{"inputText", "dimensions",
"normalize"}`` (dimensions only from v2, which accepts 256, 512 or 1024), and answers
``{"embedding", "inputTextTokenCount"}``. Cohere Embed takes up to 96 texts,
``{"texts", "input_type"}`` (``output_dimension`` only from Embed v4), and answers
``{"embeddings": [[...]]}`` (v3) or ``{"embeddings": {"float": [[...]]}}`` (v4); its token
count is only in the ``x-amzn-bedrock-input-token-count`` response header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from gateway.errors import CapabilityMissing
from providers.embeddings import EmbeddingRequest, read_vector, read_vectors, refuse_dimensions

Family = Literal["titan", "cohere"]
COHERE_BATCH = 96
INPUT_TOKENS_HEADER = "x-amzn-bedrock-input-token-count"
# Cohere's input types; the gateway embeds texts for storage and search.
COHERE_INPUT_TYPE = "search_document"


def embedding_family(model: str) -> Family | None:
    """The family of a Bedrock model id, inference profile (``us.cohere.embed-v4:0``) or
    ARN; None for a model the gateway cannot embed with."""
    if "amazon.titan-embed-text" in model:
        return "titan"
    if "cohere.embed" in model:
        return "cohere"
    return None


def _cohere_v4(model: str) -> bool:
    return "cohere.embed-v4" in model


def _titan_v1(model: str) -> bool:
    return "amazon.titan-embed-text-v1" in model


def check_bedrock_embedding(request: EmbeddingRequest, model: str, where: str) -> None:
    """A family the gateway knows, and ``dimensions`` only where the family takes it."""
    family = embedding_family(model)
    if family is None:
        raise CapabilityMissing(
            f"{where}: {model!r} is not a Bedrock embedding model the gateway can call "
            "(amazon.titan-embed-text-*, cohere.embed-*)",
            param="model",
        )
    if (family == "titan" and _titan_v1(model)) or (family == "cohere" and not _cohere_v4(model)):
        refuse_dimensions(request, f"{where} with {model}")


def titan_body(model: str, text: str, dimensions: int | None) -> dict[str, Any]:
    if _titan_v1(model):
        return {"inputText": text}
    body: dict[str, Any] = {"inputText": text, "normalize": True}
    if dimensions is not None:
        body["dimensions"] = dimensions
    return body


def titan_vector(body: Mapping[str, Any]) -> tuple[list[float], object]:
    """The vector and the body's token counter."""
    return read_vector(body.get("embedding"), "embedding"), body.get("inputTextTokenCount")


def cohere_body(model: str, texts: tuple[str, ...], dimensions: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"texts": list(texts), "input_type": COHERE_INPUT_TYPE}
    if _cohere_v4(model):
        body["embedding_types"] = ["float"]
        if dimensions is not None:
            body["output_dimension"] = dimensions
    return body


def cohere_vectors(body: Mapping[str, Any], expected: int) -> list[list[float]]:
    embeddings = body.get("embeddings")
    if isinstance(embeddings, Mapping):  # by embedding type, as Embed v4 answers
        return read_vectors(embeddings.get("float"), expected, "embeddings.float")
    return read_vectors(embeddings, expected, "embeddings")
