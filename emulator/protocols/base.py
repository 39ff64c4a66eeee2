"""The interface every emulated wire protocol implements, plus shared helpers.

A protocol turns its wire request into a neutral :class:`~emulator.behaviour.Turn`
and renders a neutral :class:`~emulator.behaviour.Decision` (or an error) back
into its wire format. Routing, auth, latency, scripting and recording are done
once, in :mod:`emulator.app`.
"""

from __future__ import annotations

import abc
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeVar

import orjson
from starlette.routing import BaseRoute

from emulator.behaviour import Decision, Turn

T = TypeVar("T")


class RequestError(Exception):
    """The wire request is invalid; rendered with the protocol's error shape."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param


class Protocol(abc.ABC):
    """One provider wire protocol.

    To add a protocol: subclass this in a new module under
    ``emulator/protocols/`` and register an instance in
    :func:`emulator.protocols.default_registry`.
    """

    #: Registry key and the ``protocol`` field of recorded requests.
    name: ClassVar[str]
    #: Starlette path of the generation endpoint (may hold ``{params}``).
    path: ClassVar[str]
    methods: ClassVar[tuple[str, ...]] = ("POST",)
    #: Starlette path of a second endpoint where every reply streams, for APIs whose
    #: streaming is another operation (Bedrock's ``converse-stream``); None for APIs
    #: that stream on a request flag.
    stream_path: ClassVar[str | None] = None
    #: Starlette path of the vendor's token-count endpoint (:meth:`count_tokens`,
    #: served by :mod:`emulator.token_count`); None for a vendor without one.
    count_path: ClassVar[str | None] = None
    stream_media_type: ClassVar[str] = "text/event-stream"
    #: Message of the 401 sent when :meth:`authenticate` fails.
    missing_key_message: ClassVar[str] = "Missing API key (emulated)."
    #: Status sent when :meth:`authenticate` fails (AWS answers 403, most others 401).
    auth_failure_status: ClassVar[int] = 401
    #: The top-level field of :meth:`render`'s body that carries the answer; the
    #: ``missing_fields`` malformation (:mod:`emulator.malformed`) leaves it out.
    answer_field: ClassVar[str] = "choices"

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries credentials; any non-empty key is accepted."""
        authorization = headers.get("authorization", "")
        bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        return bool(bearer or headers.get("x-api-key", "").strip())

    def response_headers(self, status: int) -> dict[str, str]:
        """Extra headers of a non-streamed response with ``status``, errors included (e.g.
        AWS's ``x-amzn-ErrorType``); none by default."""
        return {}

    def check_query(self, query: Mapping[str, str]) -> None:
        """Raise :class:`RequestError` for a query string the API refuses (Azure OpenAI
        requires ``api-version``); checked after auth. Any query passes by default."""
        return None

    def check_stream_query(self, query: Mapping[str, str]) -> None:
        """Like :meth:`check_query`, for requests to :attr:`stream_path` only."""
        return None

    def recorded_auth(self, headers: Mapping[str, str]) -> dict[str, str] | None:
        """Facts about the request's credentials to record as ``auth`` (e.g. a signing
        region); never a secret or a signature. None (not recorded) by default."""
        return None

    @abc.abstractmethod
    def parse(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """Validate the decoded JSON body; raise :class:`RequestError` if invalid."""

    @abc.abstractmethod
    def render(self, decision: Decision, turn: Turn) -> dict[str, Any]:
        """The non-streaming response body for a successful decision."""

    @abc.abstractmethod
    def render_stream(self, decision: Decision, turn: Turn) -> list[bytes]:
        """The streamed response, one chunk (e.g. one SSE event) per item: the unit that
        :mod:`emulator.streaming` paces and breaks."""

    def stream_error_chunk(self, message: str) -> bytes:
        """The event a provider sends when it fails after its 200 (the ``error`` stream
        fault); by default an SSE event holding this protocol's 500 error body."""
        return sse(self.render_error(500, message))

    def malformed_stream_chunk(self) -> bytes:
        """A chunk no client can decode (the ``malformed`` stream fault): by default an SSE
        event whose data is cut-off JSON."""
        return b'data: {"choices": [{"delta": {"content": "cut off\n\n'

    @abc.abstractmethod
    def render_error(self, status: int, message: str, param: str | None = None) -> dict[str, Any]:
        """An error body in this protocol's shape."""

    def count_turn(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """A token-count request (at :attr:`count_path`) reduced to a :class:`Turn`, whose
        ``prompt_tokens`` is the count; ``RequestError`` for one the vendor would refuse."""
        raise NotImplementedError(f"{self.name} has no token-count endpoint")

    def render_count(self, tokens: int) -> dict[str, Any]:
        """The token-count endpoint's answer for ``tokens`` (Anthropic's shape by default)."""
        return {"input_tokens": tokens}

    def extra_routes(self) -> Sequence[BaseRoute]:
        """Auxiliary endpoints (e.g. model listing); none by default."""
        return ()


def new_id(prefix: str, length: int = 24) -> str:
    """A random provider-style id such as ``msg_0123abcd...``."""
    return prefix + secrets.token_hex(length // 2 + 1)[:length]


def sse(data: object, event: str | None = None) -> bytes:
    """One server-sent event; ``data`` is JSON-encoded unless already bytes."""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + payload + b"\n\n"


def text_of(content: object) -> str:
    """Text of a message ``content``: a string or a list of ``{"type": "text"}`` parts.

    Non-text parts (images, documents, ...) are ignored: the emulator only
    counts and echoes text.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    return ""


Step = Literal["reply", "results", "question"]
"""What one message is to a tool loop: a model reply, tool results, or a new question."""


def since_last_question(
    messages: Sequence[T], step: Callable[[T], tuple[Step, Sequence[str]]]
) -> tuple[int, tuple[str, ...]]:
    """Model replies and tool-result texts (in order) after the last question, walking
    back from the end: what :attr:`Turn.index` and :attr:`Turn.tool_results` hold.
    ``step`` says what a message is; protocols differ in where tool results travel (their
    own role, or user messages holding only results)."""
    replies = 0
    results: list[str] = []
    for message in reversed(messages):
        kind, texts = step(message)
        if kind == "question":
            break
        if kind == "reply":
            replies += 1
        else:
            results[:0] = texts
    return replies, tuple(results)


def split_arguments(arguments: str, size: int = 8) -> list[str]:
    """A tool call's JSON arguments in ``size``-character fragments, as models stream them
    (several per call, split anywhere, even inside a string or an escape)."""
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


def split_for_stream(text: str) -> list[str]:
    """Word-sized pieces that concatenate back to ``text`` (for streamed deltas)."""
    pieces: list[str] = []
    word = ""
    for char in text:
        # A new piece starts at each non-space following a space: "a b" -> ["a ", "b"].
        if word and not char.isspace() and word[-1].isspace():
            pieces.append(word)
            word = ""
        word += char
    if word:
        pieces.append(word)
    return pieces
