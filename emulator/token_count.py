"""A vendor's token-count endpoint (Anthropic's ``POST /v1/messages/count_tokens``,
Bedrock's ``CountTokens``, Vertex's ``:countTokens``): the protocol's credentials check, its
parsing (:meth:`Protocol.count_turn`), its answer's shape (:meth:`Protocol.render_count`)
and its error shape. The count is the prompt's tokens under the emulator's rule (what a
generation's input tokens would be); a directive's ``status`` (with ``error``,
``retry_after``) fails it. Every request is recorded like a generation's (``path`` tells
them apart)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from emulator.directives import DirectiveError, find_directive
from emulator.protocols import Protocol, RequestError
from emulator.responses import JSONResponse
from emulator.state import EmulatorState


class TokenCountEndpoint:
    def __init__(self, protocol: Protocol, state: EmulatorState) -> None:
        self._protocol = protocol
        self._state = state

    async def handle(self, request: Request) -> Response:
        received = time.time()
        protocol = self._protocol
        try:
            body: Any = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        status, content = 200, None
        headers: dict[str, str] = {}
        if not protocol.authenticate(request.headers):
            status = protocol.auth_failure_status
            content = protocol.render_error(status, protocol.missing_key_message)
        elif body is None:
            status = 400
            content = protocol.render_error(status, "The request body is not valid JSON.")
        else:
            try:
                turn = protocol.count_turn(body, request.path_params)
                directive = find_directive(turn.texts)
            except RequestError as exc:
                status = exc.status
                content = protocol.render_error(status, exc.message, exc.param)
            except DirectiveError as exc:
                status, content = 400, protocol.render_error(400, str(exc))
            else:
                if directive is not None and directive.status is not None:
                    status = directive.status
                    message = directive.error or "scripted failure (emulated)"
                    content = protocol.render_error(status, message)
                    if directive.retry_after is not None:
                        headers["retry-after"] = f"{directive.retry_after:g}"
                else:
                    content = protocol.render_count(turn.prompt_tokens())
        # Anthropic names the model in the body, Bedrock and Vertex in the path.
        model = request.path_params.get("model_id") or request.path_params.get("model")
        if model is None and isinstance(body, dict):
            model = body.get("model")
        entry = self._state.record(
            t=received,
            protocol=protocol.name,
            path=request.url.path,
            model=model if isinstance(model, str) else None,
            body=body,
            status=status,
        )
        auth = protocol.recorded_auth(request.headers)
        if auth is not None:
            entry["auth"] = auth
        self._state.complete(entry, t_done=time.time())
        headers |= protocol.response_headers(status)
        return JSONResponse(content, status_code=status, headers=headers)
