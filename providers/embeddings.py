"""Vendor-neutral embedding types: what every adapter's ``embed`` takes and returns, and
the checks every vendor's reply goes through.

A request is a batch of texts for one model, with an optional number of dimensions; a
response holds one vector per text, in the request's order, and the prompt tokens the
provider counted. Adapters split a batch into as many upstream calls as their vendor
needs (Titan takes one text per call, Cohere 96, Vertex 250) and join the answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from gateway.errors import CapabilityMissing, ProviderError
from providers.types import Usage
from providers.upstream_errors import malformed_reply


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """``model`` is the gateway's name at submission and the upstream name in an adapter."""

    model: str
    inputs: tuple[str, ...]
    dimensions: int | None = None
    user: str | None = None

    @property
    def chars(self) -> int:
        return sum(len(text) for text in self.inputs)


@dataclass(frozen=True, slots=True)
class EmbeddingResponse:
    """One vector per input, in order; ``usage`` has prompt tokens only."""

    vectors: tuple[list[float], ...]
    usage: Usage
    model: str


def batches(texts: Sequence[str], size: int) -> Iterator[tuple[str, ...]]:
    """``texts`` in consecutive batches of at most ``size``: one upstream call each."""
    for start in range(0, len(texts), size):
        yield tuple(texts[start : start + size])


def refuse_dimensions(request: EmbeddingRequest, where: str) -> None:
    """A 400 naming ``dimensions`` for a request that sets it where the vendor's API has no
    such parameter: carried or refused, never silently dropped."""
    if request.dimensions is not None:
        raise CapabilityMissing(f"{where} cannot shorten embeddings", param="dimensions")


def read_vectors(values: object, expected: int, field: str) -> list[list[float]]:
    """``expected`` vectors of numbers from a reply's ``field``, all of one length; anything
    else is a malformed reply (the vendor's fault, named by its field, never its content)."""
    if not isinstance(values, list) or len(values) != expected:
        got = len(values) if isinstance(values, list) else type(values).__name__
        raise malformed_reply(f"{field}: {expected} vectors expected, got {got}")
    vectors = [read_vector(value, f"{field}[{i}]") for i, value in enumerate(values)]
    if len({len(v) for v in vectors}) > 1:
        raise malformed_reply(f"{field}: vectors of different lengths")
    return vectors


def read_vector(value: object, field: str) -> list[float]:
    """One non-empty vector of numbers (JSON numbers arrive as int or float; bool is not one)."""
    if (
        not isinstance(value, list)
        or not value
        or not all(type(x) is float or type(x) is int for x in value)
    ):
        raise malformed_reply(f"{field} is not a list of numbers")
    return value


def checked(
    vectors: Sequence[list[float]], usage: Usage, model: str, request: EmbeddingRequest
) -> EmbeddingResponse:
    """The response, once the vectors have the requested number of dimensions: a vendor
    that ignored ``dimensions`` would hand back vectors the caller cannot store. Not
    retryable: asking again gets the same answer."""
    wanted = request.dimensions
    if wanted is not None and vectors and len(vectors[0]) != wanted:
        raise ProviderError(
            f"the provider returned {len(vectors[0])}-dimension vectors; {wanted} were asked for"
        )
    return EmbeddingResponse(vectors=tuple(vectors), usage=usage, model=model)


def token_count(value: object) -> int:
    """A reply's token counter: a non-negative integer, or 0 when missing or malformed
    (0 keeps the capacity reservation instead of pretending nothing was spent)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0


BatchCall = Callable[[tuple[str, ...]], tuple[list[list[float]], int]]
"""One upstream call for a batch of texts: its vectors, in order, and the tokens counted."""


def embed_in_batches(request: EmbeddingRequest, size: int, call: BatchCall) -> EmbeddingResponse:
    """``request`` in batches of ``size`` texts, one ``call`` each, joined in order; the
    first failure ends it (the gateway retries the whole request, as for a chat turn)."""
    vectors: list[list[float]] = []
    tokens = 0
    for batch in batches(request.inputs, size):
        got, used = call(batch)
        vectors += got
        tokens += used
    if len({len(v) for v in vectors}) > 1:
        raise malformed_reply("vectors of different lengths across calls")
    return checked(vectors, Usage(prompt_tokens=tokens), request.model, request)
