"""The emulator ASGI app: protocol endpoints, each vendor's embeddings endpoint
(:mod:`emulator.embeddings`), plus the control API.

Request flow for a generation endpoint (identical for every protocol): check
credentials, decode JSON, let the protocol parse it into a neutral ``Turn``,
pick the behaviour (scripted queue first, then the last in-text directive),
decide, record, sleep the latency, complete the record (``t_done``, ``usage``),
render (or break the rendered reply, :mod:`emulator.malformed`). A streamed reply is sent
chunk by chunk, paced and possibly broken (:mod:`emulator.streaming`). The whole exchange,
until the last byte is sent, counts as in flight.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator.behaviour import Decision, Turn, decide
from emulator.control import control_routes
from emulator.directives import Directive, DirectiveError, find_directive
from emulator.embeddings import EmbeddingEndpoint
from emulator.enhancer import persona_directive
from emulator.malformed import malformed_response
from emulator.protocols import Protocol, ProtocolRegistry, RequestError, default_registry
from emulator.protocols.embeddings import WIRES
from emulator.responses import JSONResponse
from emulator.state import EmulatorState
from emulator.streaming import PacedStream, planned_chunks
from emulator.token_count import TokenCountEndpoint


def create_app(latency_ms: int = 0, *, protocols: Iterable[Protocol] | None = None) -> Starlette:
    """Build an emulator app.

    ``latency_ms`` is the server-wide latency added to every generation
    response (changeable at runtime through ``POST /_emulator/config``).
    ``protocols`` defaults to every built-in protocol. The app's state is an
    :class:`~emulator.state.EmulatorState` at ``app.state.emulator``.
    """
    state = EmulatorState(latency_ms)
    registry = default_registry() if protocols is None else ProtocolRegistry(protocols)
    routes: list[BaseRoute] = control_routes(state)
    for protocol in registry:
        # A protocol whose streaming is another operation (Bedrock's ConverseStream, say)
        # serves it at its stream_path, where every reply streams.
        # The count route first: Vertex's Claude count (``count-tokens:rawPredict``) would
        # otherwise match the generation path's ``{model}:rawPredict``.
        if protocol.count_path is not None:
            counter = TokenCountEndpoint(protocol, state)
            routes.append(Route(protocol.count_path, counter.handle, methods=["POST"]))
        paths = [(protocol.path, False)]
        if protocol.stream_path is not None:
            paths.append((protocol.stream_path, True))
        for path, always_streams in paths:
            endpoint = _Generation(protocol, state, always_streams=always_streams)
            in_flight = Middleware(_InFlight, state)
            routes.append(
                Route(path, endpoint.handle, methods=list(protocol.methods), middleware=[in_flight])
            )
        routes.extend(protocol.extra_routes())
        # The vendor's embeddings endpoint, on the same service (credentials, errors).
        wire = WIRES.get(protocol.name)
        if wire is not None:
            embeddings = EmbeddingEndpoint(wire(protocol), state)
            routes.append(
                Route(
                    wire.path,
                    embeddings.handle,
                    methods=["POST"],
                    middleware=[Middleware(_InFlight, state)],
                )
            )
    app = Starlette(routes=routes)
    app.state.emulator = state
    return app


class _InFlight:
    """Counts a route's requests as in flight until their response is fully sent.

    ASGI level rather than inside the endpoint: the endpoint returns before a
    (streaming) response is sent, and a disconnect surfaces here as an exception
    or cancellation, which ``EmulatorState.serving`` turns into a decrement.
    """

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self._app = app
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with self._state.serving():
            await self._app(scope, receive, send)


class _Generation:
    """The generation endpoint of one protocol."""

    def __init__(
        self, protocol: Protocol, state: EmulatorState, *, always_streams: bool = False
    ) -> None:
        self._protocol = protocol
        self._state = state
        self._always_streams = always_streams

    async def handle(self, request: Request) -> Response:
        received = time.time()
        protocol = self._protocol
        raw = await request.body()
        try:
            body: Any = orjson.loads(raw)
            valid_json = True
        except orjson.JSONDecodeError:
            body, valid_json = None, False
        # Auth is checked first, as real providers do.
        if not protocol.authenticate(request.headers):
            status = protocol.auth_failure_status
            return self._error(request, received, body, status, protocol.missing_key_message)
        try:
            protocol.check_query(request.query_params)
            if self._always_streams:
                protocol.check_stream_query(request.query_params)
        except RequestError as exc:
            return self._error(request, received, body, exc.status, exc.message, exc.param)
        if not valid_json:
            return self._error(request, received, body, 400, "The request body is not valid JSON.")
        try:
            turn = protocol.parse(body, request.path_params)
        except RequestError as exc:
            return self._error(request, received, body, exc.status, exc.message, exc.param)
        if self._always_streams:
            turn = dataclasses.replace(turn, stream=True)
        try:
            # Validated even when a scripted behaviour wins, so typos never go unnoticed.
            in_text = find_directive(turn.texts)
        except DirectiveError as exc:
            return self._error(request, received, body, 400, str(exc), turn=turn)
        return await self._answer(request, received, body, turn, in_text)

    async def _answer(
        self, request: Request, received: float, body: Any, turn: Turn, in_text: Directive | None
    ) -> Response:
        protocol = self._protocol
        scripted = self._state.next_scripted()
        chosen = scripted if scripted is not None else in_text
        # Unscripted enhancement prompts get a plausible model (emulator.enhancer).
        decision = decide(turn, chosen if chosen is not None else persona_directive(turn))
        status = decision.error.status if decision.error else 200
        entry = self._record(request, received, turn.model, body, status, turn)

        latency = self._state.latency_ms if decision.latency_ms is None else decision.latency_ms
        if latency > 0:
            await asyncio.sleep(latency / 1000)
        usage = None
        if decision.error is None:
            usage = {
                "prompt_tokens": decision.prompt_tokens,
                "completion_tokens": decision.completion_tokens,
            }
        self._state.complete(entry, t_done=time.time(), usage=usage)
        if decision.error:
            error = decision.error
            content = protocol.render_error(error.status, error.message)
            headers = {**protocol.response_headers(error.status), **error.headers()}
            return JSONResponse(content, status_code=error.status, headers=headers)
        if decision.malformed is not None:
            return malformed_response(
                decision.malformed,
                protocol.render(decision, turn),
                answer_field=protocol.answer_field,
                headers=protocol.response_headers(200),
            )
        if turn.stream:
            return self._stream(decision, turn)
        return JSONResponse(protocol.render(decision, turn), headers=protocol.response_headers(200))

    def _stream(self, decision: Decision, turn: Turn) -> Response:
        protocol = self._protocol
        fault_chunk = (
            protocol.stream_error_chunk(decision.fault_message)
            if decision.stream_fault == "error"
            else protocol.malformed_stream_chunk()
        )
        chunks, complete = planned_chunks(
            protocol.render_stream(decision, turn),
            decision.stream_fault,
            decision.fault_after,
            fault_chunk,
        )
        interval = decision.token_interval_ms
        return PacedStream(
            chunks,
            interval_ms=self._state.token_interval_ms if interval is None else interval,
            media_type=protocol.stream_media_type,
            headers={"cache-control": "no-cache", **protocol.response_headers(200)},
            complete=complete,
        )

    def _error(
        self,
        request: Request,
        received: float,
        body: Any,
        status: int,
        message: str,
        param: str | None = None,
        *,
        turn: Turn | None = None,
    ) -> Response:
        model = body.get("model") if isinstance(body, dict) else None
        entry = self._record(
            request, received, model if isinstance(model, str) else None, body, status, turn
        )
        self._state.complete(entry, t_done=time.time())
        content = self._protocol.render_error(status, message, param)
        headers = self._protocol.response_headers(status)
        return JSONResponse(content, status_code=status, headers=headers)

    def _record(
        self,
        request: Request,
        received: float,
        model: str | None,
        body: Any,
        status: int,
        turn: Turn | None,
    ) -> dict[str, Any]:
        entry = self._state.record(
            t=received,
            protocol=self._protocol.name,
            path=request.url.path,
            model=model,
            body=body,
            status=status,
            turn=None if turn is None else turn.index,
            tool_results=None if turn is None else turn.tool_results,
            stream=self._always_streams if turn is None else turn.stream,
        )
        auth = self._protocol.recorded_auth(request.headers)
        if auth is not None:
            entry["auth"] = auth
        entry["query"] = dict(request.query_params)
        return entry
