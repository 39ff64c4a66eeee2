"""Every vendor's embeddings endpoint in its real wire shape (:mod:`emulator.embeddings`
runs them). Each validates what its API validates and answers as its API answers:

==================  ===================================================  =================
wire                endpoint                                             vectors in
==================  ===================================================  =================
openai_embeddings   ``POST /v1/embeddings``                              ``data[].embedding``
azure_embeddings    ``POST /openai/deployments/{d}/embeddings``          ``data[].embedding``
bedrock_invoke      ``POST /model/{id}/invoke`` (Titan, Cohere Embed)    ``embedding(s)``
vertex_predict      ``POST .../publishers/google/models/{m}:predict``    ``predictions``
ollama_embed        ``POST /api/embed``                                  ``embeddings``
watsonx_embeddings  ``POST /ml/v1/text/embeddings?version=``             ``results``
oci_embed_text      ``POST /20231130/actions/embedText``                 ``embeddings``
==================  ===================================================  =================
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from emulator.embeddings import Embedded, EmbeddingWire, EmbedTurn
from emulator.protocols.base import RequestError, new_id

_OPENAI_FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


def _texts(value: object, field: str, *, limit: int | None = None) -> tuple[str, ...]:
    """A non-empty list of non-empty strings (at most ``limit``)."""
    if not isinstance(value, list) or not value:
        raise RequestError(f"{field}: must be a non-empty list of strings", param=field)
    if limit is not None and len(value) > limit:
        raise RequestError(f"{field}: at most {limit} items, got {len(value)}", param=field)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise RequestError(f"{field}[{i}]: must be a non-empty string", param=field)
    return tuple(value)


def _unknown(body: Mapping[str, Any], known: Iterable[str], message: str) -> None:
    extra = sorted(set(body) - set(known))
    if extra:
        raise RequestError(message.format(extra[0]), param=extra[0])


def _positive_int(value: object, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestError(f"{field}: must be a positive integer", param=field)
    return value


def _object(body: object) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    return body


class OpenAIEmbeddings(EmbeddingWire):
    """``{"model", "input", "encoding_format", "dimensions", "user"}``; ``input`` a string
    or a list of up to 2048 strings; ``base64`` vectors are float32 little-endian."""

    name: ClassVar[str] = "openai_embeddings"
    path: ClassVar[str] = "/v1/embeddings"

    def parse(self, body: Any, path_params: Mapping[str, str]) -> EmbedTurn:
        body = _object(body)
        _unknown(body, _OPENAI_FIELDS, "Unrecognized request argument supplied: {}")
        model = path_params.get("deployment") or body.get("model")
        if not isinstance(model, str) or not model:
            raise RequestError("you must provide a model parameter", param="model")
        raw = body.get("input")
        texts = (raw,) if isinstance(raw, str) and raw else _texts(raw, "input", limit=2048)
        if body.get("encoding_format", "float") not in ("float", "base64"):
            raise RequestError("encoding_format: 'float' or 'base64'", param="encoding_format")
        dimensions = _positive_int(body.get("dimensions"), "dimensions")
        if dimensions is not None and model.endswith("ada-002"):
            raise RequestError(
                "This model does not support specifying dimensions.", param="dimensions"
            )
        return EmbedTurn(model, texts, dimensions, body)

    def render(self, turn: EmbedTurn, answer: Embedded) -> dict[str, Any]:
        base64_wanted = turn.body.get("encoding_format") == "base64"
        return {
            "object": "list",
            "data": [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": _base64(vector) if base64_wanted else vector,
                }
                for i, vector in enumerate(answer.vectors)
            ],
            "model": turn.model,
            "usage": {"prompt_tokens": answer.prompt_tokens, "total_tokens": answer.prompt_tokens},
        }


def _base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


class AzureEmbeddings(OpenAIEmbeddings):
    """OpenAI's body on a deployment: the path names the model, ``api-version`` is
    required (the chat protocol's query check)."""

    name: ClassVar[str] = "azure_embeddings"
    path: ClassVar[str] = "/openai/deployments/{deployment}/embeddings"


_TITAN_FIELDS = ("inputText", "dimensions", "normalize", "embeddingTypes")
_COHERE_FIELDS = ("texts", "input_type", "truncate", "embedding_types", "images")
_COHERE_V4_FIELDS = (*_COHERE_FIELDS, "output_dimension", "max_tokens")
_COHERE_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")
TOKEN_COUNT_HEADER = "X-Amzn-Bedrock-Input-Token-Count"  # noqa: S105 - a header name


class BedrockInvoke(EmbeddingWire):
    """``InvokeModel`` for Titan Text Embeddings (one ``inputText``; ``dimensions`` 256,
    512 or 1024 from v2) and Cohere Embed (``texts`` up to 96 with a required
    ``input_type``; ``output_dimension`` from v4). Token counts go in the
    ``X-Amzn-Bedrock-Input-Token-Count`` header (Titan's body has them too)."""

    name: ClassVar[str] = "bedrock_invoke"
    path: ClassVar[str] = "/model/{model_id:path}/invoke"

    def parse(self, body: Any, path_params: Mapping[str, str]) -> EmbedTurn:
        body = _object(body)
        model = path_params.get("model_id", "")
        extraneous = "Malformed input request: extraneous key [{}] is not permitted"
        if "amazon.titan-embed-text" in model:
            v1 = "titan-embed-text-v1" in model
            _unknown(body, ("inputText",) if v1 else _TITAN_FIELDS, extraneous)
            text = body.get("inputText")
            if not isinstance(text, str) or not text:
                raise RequestError("Malformed input request: inputText: expected a string")
            dimensions = body.get("dimensions")
            if dimensions is not None and dimensions not in (256, 512, 1024):
                raise RequestError("Malformed input request: dimensions: 256, 512 or 1024")
            return EmbedTurn(model, (text,), dimensions, body)
        if "cohere.embed" in model:
            v4 = "embed-v4" in model
            _unknown(body, _COHERE_V4_FIELDS if v4 else _COHERE_FIELDS, extraneous)
            texts = _texts(body.get("texts"), "texts", limit=96)
            if body.get("input_type") not in _COHERE_INPUT_TYPES:
                raise RequestError("Malformed input request: input_type is required")
            dimensions = body.get("output_dimension")
            if dimensions is not None and dimensions not in (256, 512, 1024, 1536):
                raise RequestError("Malformed input request: output_dimension: 256 to 1536")
            return EmbedTurn(model, texts, dimensions, body)
        raise RequestError("The provided model identifier is invalid.")

    def _titan(self, turn: EmbedTurn) -> bool:
        return "amazon.titan-embed-text" in turn.model

    def answer_field(self, turn: EmbedTurn) -> str:
        return "embedding" if self._titan(turn) else "embeddings"

    def response_headers(self, turn: EmbedTurn, answer: Embedded) -> dict[str, str]:
        return {TOKEN_COUNT_HEADER: str(answer.prompt_tokens)}

    def render(self, turn: EmbedTurn, answer: Embedded) -> dict[str, Any]:
        if self._titan(turn):
            [vector] = answer.vectors
            return {
                "embedding": vector,
                "inputTextTokenCount": answer.prompt_tokens,
                "embeddingsByType": {"float": vector},
            }
        by_type = "embedding_types" in turn.body
        return {
            "id": new_id("", 36),
            "embeddings": {"float": answer.vectors} if by_type else answer.vectors,
            "texts": list(turn.texts),
            "response_type": "embeddings_by_type" if by_type else "embeddings_floats",
        }


class VertexPredict(EmbeddingWire):
    """``{"instances": [{"content", "task_type", "title"}], "parameters":
    {"autoTruncate", "outputDimensionality"}}``: up to 250 instances, one for
    ``gemini-embedding-*`` models."""

    name: ClassVar[str] = "vertex_predict"
    path: ClassVar[str] = (
        "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:predict"
    )

    def parse(self, body: Any, path_params: Mapping[str, str]) -> EmbedTurn:
        body = _object(body)
        _unknown(body, ("instances", "parameters"), 'Invalid JSON payload: unknown name "{}"')
        model = path_params.get("model", "")
        instances = body.get("instances")
        limit = 1 if model.startswith("gemini-embedding") else 250
        if not isinstance(instances, list) or not instances or len(instances) > limit:
            raise RequestError(f"instances: 1 to {limit} instances for {model}")
        texts = []
        for i, instance in enumerate(instances):
            content = instance.get("content") if isinstance(instance, dict) else None
            if not isinstance(content, str) or not content:
                raise RequestError(f"instances[{i}].content: a non-empty string is required")
            _unknown(instance, ("content", "task_type", "title"), 'unknown name "{}"')
            texts.append(content)
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise RequestError("parameters: must be an object")
        _unknown(parameters, ("autoTruncate", "outputDimensionality"), 'unknown name "{}"')
        dimensions = _positive_int(parameters.get("outputDimensionality"), "outputDimensionality")
        return EmbedTurn(model, tuple(texts), dimensions, body)

    def answer_field(self, turn: EmbedTurn) -> str:
        return "predictions"

    def render(self, turn: EmbedTurn, answer: Embedded) -> dict[str, Any]:
        return {
            "predictions": [
                {
                    "embeddings": {
                        "values": vector,
                        "statistics": {"token_count": tokens, "truncated": False},
                    }
                }
                for vector, tokens in zip(answer.vectors, answer.tokens, strict=True)
            ],
            "metadata": {"billableCharacterCount": sum(len(t) for t in turn.texts)},
        }


class OllamaEmbed(EmbeddingWire):
    """``{"model", "input", "truncate", "dimensions", "keep_alive", "options"}``."""

    name: ClassVar[str] = "ollama_embed"
    path: ClassVar[str] = "/api/embed"

    def parse(self, body: Any, path_params: Mapping[str, str]) -> EmbedTurn:
        body = _object(body)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise RequestError("model is required")
        raw = body.get("input")
        texts = (raw,) if isinstance(raw, str) and raw else _texts(raw, "input")
        dimensions = _positive_int(body.get("dimensions"), "dimensions")
        return EmbedTurn(model, texts, dimensions, body)

    def answer_field(self, turn: EmbedTurn) -> str:
        return "embeddings"

    def render(self, turn: EmbedTurn, answer: Embedded) -> dict[str, Any]:
        return {
            "model": turn.model,
            "embeddings": answer.vectors,
            "total_duration": 1_000_000,
            "load_duration": 0,
            "prompt_eval_count": answer.prompt_tokens,
        }


class WatsonxEmbeddings(EmbeddingWire):
    """``{"inputs", "model_id", "project_id" | "space_id", "parameters"}``: up to 1,000
    inputs; no way to shorten vectors."""

    name: ClassVar[str] = "watsonx_embeddings"
    path: ClassVar[str] = "/ml/v1/text/embeddings"

    def parse(self, body: Any, path_params: Mapping[str, str]) -> EmbedTurn:
        body = _object(body)
        known = ("inputs", "model_id", "project_id", "space_id", "parameters")
        _unknown(body, known, "Unexpected field '{}'")
        model = body.get("model_id")
        if not isinstance(model, str) or not model:
            raise RequestError("Missing field 'model_id'", param="model_id")
        if not (body.get("project_id") or body.get("space_id")):
            raise RequestError("Either 'project_id' or 'space_id' must be specified")
        return EmbedTurn(model, _texts(body.get("inputs"), "inputs", limit=1000), None, body)

    def answer_field(self, turn: EmbedTurn) -> str:
        return "results"

    def render(self, turn: EmbedTurn, answer: Embedded) -> dict[str, Any]:
        return {
            "model_id": turn.model,
            "results": [{"embedding": vector} for vector in answer.vectors],
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "input_token_count": answer.prompt_tokens,
        }


_OCI_FIELDS = (
    "inputs",
    "servingMode",
    "compartmentId",
    "isEcho",
    "truncate",
    "inputType",
    "outputDimensions",
    "embeddingTypes",
)


class OCIEmbedText(EmbeddingWire):
    """``{"inputs", "servingMode", "compartmentId", "inputType", "truncate",
    "outputDimensions"}``: up to 96 inputs."""

    name: ClassVar[str] = "oci_embed_text"
    path: ClassVar[str] = "/20231130/actions/embedText"

    def parse(self, body: Any, path_params: Mapping[str, str]) -> EmbedTurn:
        body = _object(body)
        _unknown(body, _OCI_FIELDS, "Unknown property '{}'")
        serving = body.get("servingMode")
        field = (
            "endpointId"
            if isinstance(serving, dict) and serving.get("servingType") == "DEDICATED"
            else "modelId"
        )
        model = serving.get(field) if isinstance(serving, dict) else None
        if not isinstance(model, str) or not model:
            raise RequestError(f"servingMode.{field} is required.", param="servingMode")
        if not isinstance(body.get("compartmentId"), str):
            raise RequestError("compartmentId is required.", param="compartmentId")
        texts = _texts(body.get("inputs"), "inputs", limit=96)
        dimensions = _positive_int(body.get("outputDimensions"), "outputDimensions")
        return EmbedTurn(model, texts, dimensions, body)

    def answer_field(self, turn: EmbedTurn) -> str:
        return "embeddings"

    def render(self, turn: EmbedTurn, answer: Embedded) -> dict[str, Any]:
        tokens = answer.prompt_tokens
        reply: dict[str, Any] = {
            "id": new_id("ocid1.generativeaiembedding.oc1.", 24),
            "embeddings": answer.vectors,
            "modelId": turn.model,
            "modelVersion": "1.0",
            "usage": {"promptTokens": tokens, "totalTokens": tokens},
        }
        if turn.body.get("isEcho"):
            reply["inputs"] = list(turn.texts)
        return reply


# The chat protocol (by registry name) whose service each wire belongs to.
WIRES: Mapping[str, type[EmbeddingWire]] = {
    "openai": OpenAIEmbeddings,
    "azure_openai": AzureEmbeddings,
    "bedrock": BedrockInvoke,
    "vertex": VertexPredict,
    "ollama": OllamaEmbed,
    "watsonx": WatsonxEmbeddings,
    "oci": OCIEmbedText,
}
