"""The JSON control API under ``/_emulator/`` used by tests and benchmarks.

``GET /_emulator/health``                       ``{"ok": true}``
``GET|DELETE /_emulator/requests``              recorded requests / clear them (and the peak)
``GET /_emulator/stats``                        ``in_flight``, ``peak_in_flight``, ``requests``
``GET|POST /_emulator/config``                  ``{"latency_ms": N, "token_interval_ms": M}``
``GET|POST|DELETE /_emulator/script``           ``{"behaviours": [...]}`` FIFO queue
``GET|PUT|DELETE /_emulator/ollama/models``     ``{"models": [...]}``: Ollama's ``/api/tags``
                                                list (DELETE restores ``["llama3.2"]``)

A record holds ``t`` (receipt, epoch seconds), ``protocol``, ``path``,
``model``, ``body``, ``status``, ``stream`` (whether it asked for a streamed reply),
``query`` (the query parameters, e.g. Azure's
``api-version``), ``turn`` (assistant messages after the last
user message: the position in a tool loop, see ``turns`` in
:mod:`emulator.directives`), ``tool_results`` (the tool result texts after the
last user message, each cut to 2000 characters; ``turn`` and ``tool_results``
are ``null`` when the request could not be parsed), ``t_done`` (reply
produced, after the latency sleep; ``null`` while pending or if the client
left first) and ``usage`` (``{"prompt_tokens", "completion_tokens"}``,
``null`` for errors).
``in_flight`` counts generation requests from receipt until their response is
fully sent; ``peak_in_flight`` is its maximum since the last ``DELETE
/_emulator/requests``; ``requests`` is the number of records kept.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.directives import Directive, DirectiveError
from emulator.responses import JSONResponse
from emulator.state import DEFAULT_OLLAMA_MODELS, EmulatorState

# What ``POST /_emulator/config`` changes: attributes of EmulatorState, in milliseconds.
_CONFIG_FIELDS = ("latency_ms", "token_interval_ms")


def control_routes(state: EmulatorState) -> list[BaseRoute]:
    """Routes of the control API, bound to ``state``."""
    api = _ControlAPI(state)
    return [
        Route("/_emulator/health", api.health, methods=["GET"]),
        Route("/_emulator/requests", api.requests, methods=["GET", "DELETE"]),
        Route("/_emulator/stats", api.stats, methods=["GET"]),
        Route("/_emulator/config", api.config, methods=["GET", "POST"]),
        Route("/_emulator/script", api.script, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/ollama/models", api.ollama_models, methods=["GET", "PUT", "DELETE"]),
    ]


class _ControlAPI:
    def __init__(self, state: EmulatorState) -> None:
        self._state = state

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self._state.clear_records()
            self._state.reset_peak()
        return JSONResponse({"requests": self._state.records()})

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self._state.stats())

    async def config(self, request: Request) -> Response:
        if request.method == "POST":
            body = await _json_object(request)
            if body is None:
                return _bad_request("body must be a JSON object")
            values = {name: body.get(name) for name in _CONFIG_FIELDS}
            for name, value in values.items():
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int) or value < 0
                ):
                    return _bad_request(f"{name} must be a non-negative integer")
            # Validated first, then applied: no half-applied configuration.
            for name, value in values.items():
                if value is not None:
                    setattr(self._state, name, value)
        return JSONResponse({name: getattr(self._state, name) for name in _CONFIG_FIELDS})

    async def script(self, request: Request) -> Response:
        if request.method == "DELETE":
            self._state.clear_script()
        elif request.method == "POST":
            body = await _json_object(request)
            behaviours = None if body is None else body.get("behaviours")
            if not isinstance(behaviours, list):
                return _bad_request('body must be {"behaviours": [...]}')
            try:
                # Validate everything before queueing anything: no half-applied scripts.
                parsed = [Directive.from_json(item) for item in behaviours]
            except DirectiveError as exc:
                return _bad_request(str(exc))
            self._state.enqueue(parsed)
        return JSONResponse({"queued": self._state.script_length()})

    async def ollama_models(self, request: Request) -> Response:
        if request.method == "DELETE":
            self._state.ollama_models = list(DEFAULT_OLLAMA_MODELS)
        elif request.method == "PUT":
            body = await _json_object(request)
            models = None if body is None else body.get("models")
            if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
                return _bad_request('body must be {"models": ["name", ...]}')
            self._state.ollama_models = list(models)
        return JSONResponse({"models": self._state.ollama_models})


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _bad_request(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400)
