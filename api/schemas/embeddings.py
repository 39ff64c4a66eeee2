"""``POST /v1/embeddings``: OpenAI's request and its ``list`` of embeddings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from api.schemas.common import ResponseModel

# Documented precisely, read loosely: the body is checked by the gateway's one reader of
# embedding requests (``providers.openai_embeddings``), so a bad field is the same 400
# naming it whether it arrives here or in an ``embedding`` job.
_Text = {"type": "string", "minLength": 1}


class EmbeddingCreate(BaseModel):
    """``POST /v1/embeddings``: OpenAI's request, plus the gateway's ``provider`` pin."""

    # Extra fields are kept so the reader refuses them by name (a 400): the document says
    # none are accepted.
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"required": ["model", "input"], "additionalProperties": False},
    )

    model: Annotated[Any, WithJsonSchema({**_Text, "maxLength": 256})] = None
    input: Annotated[
        Any,
        WithJsonSchema(
            {
                "anyOf": [_Text, {"type": "array", "items": _Text, "minItems": 1}],
                "description": "a text, or a batch of texts (token arrays are refused)",
            }
        ),
    ] = None
    dimensions: Annotated[
        Any, WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 65536})
    ] = None
    encoding_format: Annotated[
        Any, WithJsonSchema({"type": "string", "enum": ["float", "base64"], "default": "float"})
    ] = None
    user: Annotated[Any, WithJsonSchema({"type": "string", "maxLength": 512})] = None
    provider: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "description": "pin the request to an instance name or a provider type",
            }
        ),
    ] = None

    def job_request(self) -> dict[str, Any]:
        """The request the ``embedding`` job stores: the fields as sent (null ones left
        out), unknown ones included so that they are refused by name."""
        sent = self.model_dump(exclude_unset=True)
        known = type(self).model_fields
        return {k: v for k, v in sent.items() if v is not None or k not in known}


class Embedding(ResponseModel):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str = Field(
        description="the vector; with encoding_format base64, its float32 values "
        "(little-endian) in base64"
    )


class EmbeddingUsage(ResponseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(ResponseModel):
    """OpenAI's answer, one embedding per input in order. The job's id is in the
    ``x-llm-gateway-job-id`` header."""

    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
