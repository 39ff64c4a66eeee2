"""OpenAI's embeddings format, which is the gateway's public one: a ``/v1/embeddings``
request checked and read into an ``EmbeddingRequest`` (the one place that decides what a
request may hold, for ``/v1/embeddings`` and ``/v1/jobs`` alike), the body the OpenAI and
Azure adapters send and the reply they read, and the ``list`` object the gateway answers
with (``encoding_format: base64``: each vector's little-endian float32 bytes, base64,
as OpenAI sends them).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gateway.errors import InvalidRequest
from providers.embeddings import (
    EmbeddingRequest,
    EmbeddingResponse,
    checked,
    read_vector,
    token_count,
)
from providers.types import Usage
from providers.upstream_errors import malformed_reply

EncodingFormat = Literal["float", "base64"]
ENCODING_FORMATS: tuple[EncodingFormat, ...] = ("float", "base64")
# OpenAI's parameters, and the gateway's own ``provider`` hint (an SDK's ``extra_body``).
FIELDS = ("model", "input", "dimensions", "encoding_format", "user", "provider")
# Beyond any model's output size (the largest today are 3,072 or 4,096): a typo, refused here.
MAX_DIMENSIONS = 65_536
MAX_USER_CHARS = 512


@dataclass(frozen=True, slots=True)
class EmbeddingCall:
    """A checked embeddings request: what to embed, how to encode the answer, and the
    request's ``provider`` hint (an instance name or a provider type), if any."""

    request: EmbeddingRequest
    encoding_format: EncodingFormat = "float"
    provider: str | None = None


def embedding_call_from_openai(
    raw: Mapping[str, Any], *, max_inputs: int | None = None
) -> EmbeddingCall:
    """Check ``raw``: every problem is a 400 naming its field. ``max_inputs``: how many
    texts one request may hold (None: no limit, for a worker re-reading a stored job)."""
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        names = ", ".join(repr(name[:64]) for name in unknown[:5])
        raise InvalidRequest(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {names}; "
            f"an embeddings request takes {', '.join(FIELDS)}",
            param=unknown[0][:64],
        )
    model = raw.get("model")
    if not isinstance(model, str) or not 0 < len(model) <= 256:
        raise InvalidRequest("model must be a model name (1-256 characters)", param="model")
    encoding = raw.get("encoding_format")
    if encoding is None:
        encoding = "float"
    if encoding not in ENCODING_FORMATS:
        raise InvalidRequest("encoding_format must be 'float' or 'base64'", param="encoding_format")
    provider = raw.get("provider")
    if provider is not None and (not isinstance(provider, str) or not 0 < len(provider) <= 64):
        raise InvalidRequest(
            "provider must be an instance name or a provider type (1-64 characters)",
            param="provider",
        )
    request = EmbeddingRequest(
        model=model,
        inputs=_inputs(raw.get("input"), max_inputs),
        dimensions=_dimensions(raw.get("dimensions")),
        user=_user(raw.get("user")),
    )
    return EmbeddingCall(request, encoding, provider)


def _inputs(value: object, max_inputs: int | None) -> tuple[str, ...]:
    if value is None:
        raise InvalidRequest("input is required: a string or a list of strings", param="input")
    if isinstance(value, str):
        if not value:
            raise InvalidRequest("input must not be an empty string", param="input")
        return (value,)
    if not isinstance(value, list):
        raise InvalidRequest("input must be a string or a list of strings", param="input")
    if not value:
        raise InvalidRequest("input must not be an empty list", param="input")
    if max_inputs is not None and len(value) > max_inputs:
        raise InvalidRequest(
            f"input: {len(value)} texts; at most {max_inputs} are allowed "
            "(LLM_GATEWAY_EMBEDDING_MAX_INPUTS)",
            param="input",
        )
    if all(_is_int(v) for v in value) or all(
        isinstance(v, list) and v and all(_is_int(t) for t in v) for v in value
    ):
        raise InvalidRequest(
            "token arrays are not supported (each provider has its own tokenizer): send text",
            param="input",
        )
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidRequest(f"input[{i}] must be a string", param=f"input[{i}]")
        if not item:
            raise InvalidRequest(f"input[{i}] must not be empty", param=f"input[{i}]")
    return tuple(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _dimensions(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_DIMENSIONS:
        raise InvalidRequest(
            f"dimensions must be an integer from 1 to {MAX_DIMENSIONS}", param="dimensions"
        )
    return value


def _user(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_USER_CHARS:
        raise InvalidRequest(
            f"user must be a string of at most {MAX_USER_CHARS} characters", param="user"
        )
    return value


def embedding_request_to_openai(request: EmbeddingRequest) -> dict[str, Any]:
    """The body of ``POST /embeddings`` (floats asked for: the gateway encodes itself, so
    a float answer passes through digit for digit)."""
    body: dict[str, Any] = {
        "model": request.model,
        "input": list(request.inputs),
        "encoding_format": "float",
    }
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    if request.user is not None:
        body["user"] = request.user
    return body


def embedding_response_from_openai(
    body: Mapping[str, Any], request: EmbeddingRequest
) -> EmbeddingResponse:
    """OpenAI's ``list`` of ``embedding`` objects, each with its ``index``, in any order."""
    data = body.get("data")
    count = len(request.inputs)
    if not isinstance(data, list) or len(data) != count:
        got = len(data) if isinstance(data, list) else type(data).__name__
        raise malformed_reply(f"data: {count} embeddings expected, got {got}")
    vectors: list[list[float] | None] = [None] * count
    for i, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise malformed_reply(f"data[{i}] is not an object")
        index = item.get("index")
        if (
            isinstance(index, bool)
            or not isinstance(index, int)
            or not 0 <= index < count
            or vectors[index] is not None
        ):
            raise malformed_reply(f"data[{i}].index is missing, out of range or repeated")
        vectors[index] = read_vector(item.get("embedding"), f"data[{i}].embedding")
    ordered = [v for v in vectors if v is not None]
    if len({len(v) for v in ordered}) > 1:
        raise malformed_reply("data: vectors of different lengths")
    usage = body.get("usage")
    prompt = usage.get("prompt_tokens") if isinstance(usage, Mapping) else None
    model = body.get("model")
    return checked(
        ordered,
        Usage(prompt_tokens=token_count(prompt)),
        model if isinstance(model, str) else request.model,
        request,
    )


def embedding_list(
    vectors: Sequence[Sequence[float]], model: str, prompt_tokens: int, encoding: EncodingFormat
) -> dict[str, Any]:
    """The gateway's answer, OpenAI's ``list`` object exactly."""
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encode_vector(vector, encoding)}
            for i, vector in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def encode_vector(vector: Sequence[float], encoding: EncodingFormat) -> list[float] | str:
    """A vector as ``encoding`` says: the numbers, or their float32 bytes (little-endian,
    whatever this machine's order) in base64."""
    if encoding == "float":
        return list(vector)
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
