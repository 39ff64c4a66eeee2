"""OCI Generative AI embeddings: ``POST /20231130/actions/embedText`` with ``{"inputs",
"servingMode", "compartmentId", "inputType", "truncate"}``, answered with
``{"embeddings": [[...]], "modelId", "usage": {"promptTokens"}}``. A call takes up to 96
texts; ``outputDimensions`` exists only for Cohere Embed v4 and later, so ``dimensions``
is refused for the others. ``truncate`` is ``NONE``: an over-long text is an error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.embeddings import EmbeddingRequest, read_vectors, refuse_dimensions, token_count

EMBED_BATCH = 96
_ENDPOINT_OCID = "ocid1.generativeaiendpoint."


def _takes_dimensions(model: str) -> bool:
    return "embed-v4" in model or model.startswith(_ENDPOINT_OCID)


def check_oci_embedding(request: EmbeddingRequest, model: str, where: str) -> None:
    if not _takes_dimensions(model):
        refuse_dimensions(request, f"{where} with {model}")


def embed_text_body(
    model: str, texts: tuple[str, ...], dimensions: int | None, compartment_id: str
) -> dict[str, Any]:
    if model.startswith(_ENDPOINT_OCID):
        serving = {"servingType": "DEDICATED", "endpointId": model}
    else:
        serving = {"servingType": "ON_DEMAND", "modelId": model}
    body: dict[str, Any] = {
        "inputs": list(texts),
        "servingMode": serving,
        "compartmentId": compartment_id,
        "inputType": "SEARCH_DOCUMENT",
        "truncate": "NONE",
    }
    if dimensions is not None:
        body["outputDimensions"] = dimensions
    return body


def embed_text_vectors(body: Mapping[str, Any], expected: int) -> tuple[list[list[float]], int]:
    vectors = read_vectors(body.get("embeddings"), expected, "embeddings")
    usage = body.get("usage")
    tokens = token_count(usage.get("promptTokens")) if isinstance(usage, Mapping) else 0
    return vectors, tokens
