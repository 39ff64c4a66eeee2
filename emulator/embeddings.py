"""Embeddings, emulated for every vendor: the endpoint flow, deterministic vectors and
token counts; each vendor's wire shape is an :class:`EmbeddingWire`
(:mod:`emulator.protocols.embeddings`).

Vectors
-------
A text's vector depends on the text alone (directives stripped) and the number of
dimensions: a unit vector whose components come from the text's shake-256 digest, each
value a float32 (what real models produce, so base64 and float answers decode to the same
numbers). The same text gets the same vector from every vendor; without ``dimensions``
the model's usual size is used (:data:`DEFAULT_DIMENSIONS`).

Tokens: ``ceil(chars / 4)`` per text, summed (:mod:`emulator.behaviour`'s rule), so a
batch counts the same whether a vendor takes it in one call or one text per call.

Request flow, as for generation (:mod:`emulator.app`): credentials (the vendor's chat
protocol's own check), query, JSON, the wire's validation, directives (``status``,
``error``, ``retry_after``, ``latency_ms``, ``usage.prompt_tokens``, ``malformed``; a
scripted behaviour first), record, latency, answer. Records carry ``protocol`` (the
wire's name, e.g. ``openai_embeddings``), the model, the body and ``usage``.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import http
import math
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from starlette.requests import Request
from starlette.responses import Response

from emulator.behaviour import ErrorReply, count_tokens
from emulator.directives import Directive, DirectiveError, find_directive, strip_directives
from emulator.malformed import malformed_response
from emulator.protocols.base import Protocol, RequestError
from emulator.responses import JSONResponse
from emulator.state import EmulatorState

# Dimensions of a model's vectors when a request does not say; others get 768.
DEFAULT_DIMENSIONS: Mapping[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "amazon.titan-embed-text-v1": 1536,
    "amazon.titan-embed-text-v2:0": 1024,
    "cohere.embed-english-v3": 1024,
    "cohere.embed-multilingual-v3": 1024,
    "cohere.embed-english-v3.0": 1024,
    "cohere.embed-v4:0": 1536,
    "text-embedding-004": 768,
    "text-embedding-005": 768,
    "gemini-embedding-001": 3072,
    "nomic-embed-text": 768,
    "ibm/slate-125m-english-rtrvr": 768,
    "ibm/slate-30m-english-rtrvr": 384,
}
FALLBACK_DIMENSIONS = 768


def default_dimensions(model: str) -> int:
    """The model's usual size; a Bedrock ARN or inference profile by its base model id."""
    for name, size in DEFAULT_DIMENSIONS.items():
        if model == name or model.endswith("/" + name) or model.endswith("." + name):
            return size
    return FALLBACK_DIMENSIONS


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """The deterministic unit vector of ``text`` (directives stripped) in float32 values:
    its components drawn uniformly from shake-256 of the text, then normalized (cheap
    enough that the emulator stays a fast baseline for benchmarks)."""
    digest = hashlib.shake_256(strip_directives(text).encode()).digest(4 * dimensions)
    draws = [u / 2**31 - 1.0 for u in struct.unpack(f"<{dimensions}I", digest)]
    norm = math.sqrt(math.fsum(x * x for x in draws)) or 1.0
    packed = struct.pack(f"<{dimensions}f", *(x / norm for x in draws))
    return list(struct.unpack(f"<{dimensions}f", packed))


def text_tokens(text: str) -> int:
    """One text's prompt tokens under the emulator's rule (directives stripped)."""
    return count_tokens(len(strip_directives(text)))


@dataclass(frozen=True, slots=True)
class EmbedTurn:
    """An embeddings request, reduced to what the answer needs; ``body`` keeps the wire
    request for vendor-specific rendering (an encoding format, Cohere's version)."""

    model: str
    texts: tuple[str, ...]
    dimensions: int | None = None
    body: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Embedded:
    """The answer: one vector per text, and each text's tokens."""

    vectors: list[list[float]]
    tokens: list[int]

    @property
    def prompt_tokens(self) -> int:
        return sum(self.tokens)


class EmbeddingWire(abc.ABC):
    """One vendor's embeddings endpoint. Credentials, query checks, error bodies and
    response headers are the vendor's chat protocol's (``chat``): the same service."""

    #: The ``protocol`` field of recorded requests.
    name: ClassVar[str]
    #: Starlette path of the endpoint.
    path: ClassVar[str]

    def __init__(self, chat: Protocol) -> None:
        self.chat = chat

    @abc.abstractmethod
    def parse(self, body: Any, path_params: Mapping[str, str]) -> EmbedTurn:
        """Validate the decoded JSON body; raise :class:`RequestError` if invalid."""

    @abc.abstractmethod
    def render(self, turn: EmbedTurn, answer: Embedded) -> dict[str, Any]:
        """The response body."""

    def answer_field(self, turn: EmbedTurn) -> str:
        """The top-level field carrying the vectors (left out by ``missing_fields``)."""
        return "data"

    def response_headers(self, turn: EmbedTurn, answer: Embedded) -> dict[str, str]:
        """Headers of a successful answer beyond the vendor's usual ones (Bedrock's token
        count, say)."""
        return {}


def embed(turn: EmbedTurn, prompt_tokens: int | None = None) -> Embedded:
    """Vectors and token counts for ``turn``; ``prompt_tokens`` (a directive's ``usage``)
    replaces the total, carried by the first text."""
    size = turn.dimensions or default_dimensions(turn.model)
    vectors = [embedding_vector(text, size) for text in turn.texts]
    tokens = [text_tokens(text) for text in turn.texts]
    if prompt_tokens is not None:
        tokens = [prompt_tokens] + [0] * (len(tokens) - 1)
    return Embedded(vectors, tokens)


class EmbeddingEndpoint:
    """The endpoint of one :class:`EmbeddingWire`."""

    def __init__(self, wire: EmbeddingWire, state: EmulatorState) -> None:
        self._wire = wire
        self._state = state

    async def handle(self, request: Request) -> Response:
        received = time.time()
        wire, chat = self._wire, self._wire.chat
        raw = await request.body()
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if not chat.authenticate(request.headers):
            status = chat.auth_failure_status
            return self._error(request, received, body, None, status, chat.missing_key_message)
        try:
            chat.check_query(request.query_params)
            if body is None:
                raise RequestError("The request body is not valid JSON.")
            turn = wire.parse(body, request.path_params)
            # Validated even when a scripted behaviour wins, so typos never go unnoticed.
            in_text = find_directive(turn.texts)
        except RequestError as exc:
            return self._error(request, received, body, None, exc.status, exc.message, exc.param)
        except DirectiveError as exc:
            return self._error(request, received, body, turn.model, 400, str(exc))
        scripted = self._state.next_scripted()
        directive = (scripted if scripted is not None else in_text) or Directive()
        error = _error_of(directive)
        entry = self._record(request, received, turn.model, body, error.status if error else 200)
        latency = self._state.latency_ms if directive.latency_ms is None else directive.latency_ms
        if latency > 0:
            await asyncio.sleep(latency / 1000)
        if error is not None:
            self._state.complete(entry, t_done=time.time())
            headers = {**chat.response_headers(error.status), **error.headers()}
            content = chat.render_error(error.status, error.message)
            return JSONResponse(content, status_code=error.status, headers=headers)
        answer = embed(turn, directive.prompt_tokens)
        usage = {"prompt_tokens": answer.prompt_tokens, "completion_tokens": 0}
        self._state.complete(entry, t_done=time.time(), usage=usage)
        headers = {**chat.response_headers(200), **wire.response_headers(turn, answer)}
        rendered = wire.render(turn, answer)
        if directive.malformed is not None:
            return malformed_response(
                directive.malformed,
                rendered,
                answer_field=wire.answer_field(turn),
                headers=headers,
            )
        return JSONResponse(rendered, headers=headers)

    def _error(
        self,
        request: Request,
        received: float,
        body: Any,
        model: str | None,
        status: int,
        message: str,
        param: str | None = None,
    ) -> Response:
        if model is None and isinstance(body, dict) and isinstance(body.get("model"), str):
            model = body["model"]
        entry = self._record(request, received, model, body, status)
        self._state.complete(entry, t_done=time.time())
        content = self._wire.chat.render_error(status, message, param)
        headers = self._wire.chat.response_headers(status)
        return JSONResponse(content, status_code=status, headers=headers)

    def _record(
        self, request: Request, received: float, model: str | None, body: Any, status: int
    ) -> dict[str, Any]:
        entry = self._state.record(
            t=received,
            protocol=self._wire.name,
            path=request.url.path,
            model=model,
            body=body,
            status=status,
        )
        auth = self._wire.chat.recorded_auth(request.headers)
        if auth is not None:
            entry["auth"] = auth
        entry["query"] = dict(request.query_params)
        return entry


def _error_of(directive: Directive) -> ErrorReply | None:
    if directive.status is None:
        return None
    try:
        reason = http.HTTPStatus(directive.status).phrase
    except ValueError:
        reason = "Error"
    message = directive.error or f"{reason} (emulated)"
    return ErrorReply(directive.status, message, directive.retry_after)
