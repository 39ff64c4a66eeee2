"""A stand-in for the two downstream services the gateway's tools call, on one port:

- semantic-search: ``POST /v1/search``, ``GET /v1/chunks/{chunk_id}``
- ai-agents: ``POST /v1/agents/{name}/run`` (code-review, architecture, doc-generate)

plus ``GET /health`` and a control API under ``/_downstream``: recorded requests, injected
failures or latency for the next N requests to a path prefix, and a reset. Answers are
deterministic (``emulator.downstream_content``). Run it with ``llm-gateway downstream``.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.downstream_content import AGENTS, CHUNKS, search

CONTROL_PREFIX = "/_downstream"


class SearchRequest(BaseModel):
    query: str = Field(min_length=1)
    top_k: int = Field(default=5, ge=1, le=50)
    collection: str | None = None


class AgentRun(BaseModel):
    input: dict[str, Any]


class Behaviour(BaseModel):
    """Slow (``latency_ms``) and/or answer for the service (``status``, with ``body`` as
    plain text if given, else a JSON error) the next ``times`` requests whose path starts
    with ``path_prefix``; ``times`` null = every one until reset."""

    path_prefix: str = "/"
    status: int | None = Field(default=None, ge=200, le=599)
    body: str | None = None
    latency_ms: int = Field(default=0, ge=0)
    times: int | None = Field(default=None, ge=1)
    retry_after: float | None = Field(default=None, ge=0)


@dataclass(slots=True)
class DownstreamState:
    requests: list[dict[str, Any]] = field(default_factory=list)
    behaviours: list[Behaviour] = field(default_factory=list)

    def take_behaviour(self, path: str) -> Behaviour | None:
        """The first behaviour matching ``path``, one use of it spent."""
        for index, behaviour in enumerate(self.behaviours):
            if path.startswith(behaviour.path_prefix):
                if behaviour.times is not None:
                    left = behaviour.times - 1
                    if left:
                        self.behaviours[index] = behaviour.model_copy(update={"times": left})
                    else:
                        del self.behaviours[index]
                return behaviour
        return None


class _Recorder:
    """ASGI middleware: records each service request and applies injected behaviours."""

    def __init__(self, app: ASGIApp, state: DownstreamState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(CONTROL_PREFIX) or path == "/health":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        record: dict[str, Any] = {
            "method": scope["method"],
            "path": scope.get("raw_path", path.encode()).decode("latin-1"),
            "query": scope.get("query_string", b"").decode("latin-1"),
            "body": _json_or_text(body),
            "t_start": time.time(),
            "t_end": None,
            "status": None,
        }
        self.state.requests.append(record)
        behaviour = self.state.take_behaviour(path)
        if behaviour is not None and behaviour.latency_ms:
            await asyncio.sleep(behaviour.latency_ms / 1000)

        async def recorded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                record["t_end"] = time.time()

        if behaviour is not None and behaviour.status is not None:
            headers: dict[str, str] = {}
            if behaviour.retry_after is not None:
                headers["retry-after"] = f"{behaviour.retry_after:g}"
            injected: Response = (
                PlainTextResponse(behaviour.body, behaviour.status, headers)
                if behaviour.body is not None
                else JSONResponse(
                    {"detail": f"injected failure {behaviour.status}"}, behaviour.status, headers
                )
            )
            await injected(scope, receive, recorded_send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, recorded_send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _json_or_text(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")


def create_downstream_app() -> FastAPI:
    """The stand-in app; its state is ``app.state.downstream``."""
    state = DownstreamState()
    app = FastAPI(title="downstream stand-in", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.downstream = state

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/v1/search")
    async def search_corpus(request: SearchRequest) -> dict[str, Any]:
        results = search(request.query, request.top_k, request.collection)
        return {"query": request.query, "collection": request.collection, "results": results}

    @app.get("/v1/chunks/{chunk_id:path}")
    async def get_chunk(chunk_id: str) -> dict[str, Any]:
        chunk = CHUNKS.get(chunk_id)
        if chunk is None:
            raise HTTPException(404, "chunk not found")
        return chunk.public()

    @app.post("/v1/agents/{name}/run")
    async def run_agent(name: str, run: AgentRun) -> dict[str, Any]:
        agent = AGENTS.get(name)
        if agent is None:
            raise HTTPException(404, "agent not found")
        if not isinstance(run.input.get("code"), str) or not run.input["code"]:
            raise HTTPException(422, "input.code is required")
        return {"agent": name, "output": agent(run.input)}

    @app.get(f"{CONTROL_PREFIX}/requests")
    async def recorded() -> dict[str, Any]:
        return {"requests": list(state.requests)}

    @app.post(f"{CONTROL_PREFIX}/behaviour")
    async def add_behaviour(behaviour: Behaviour) -> dict[str, int]:
        state.behaviours.append(behaviour)
        return {"behaviours": len(state.behaviours)}

    @app.post(f"{CONTROL_PREFIX}/reset")
    async def reset() -> dict[str, bool]:
        state.requests.clear()
        state.behaviours.clear()
        return {"ok": True}

    app.add_middleware(_Recorder, state=state)
    return app


def serve_downstream(host: str = "127.0.0.1", port: int = 8081) -> None:
    """Serve the stand-in until interrupted."""
    uvicorn.run(
        create_downstream_app(), host=host, port=port, access_log=False, log_level="warning"
    )


class DownstreamControl:
    """Control API of a running stand-in at ``base_url`` (stdlib only)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"stand-in URL must be http(s): {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        # The scheme is checked in __init__, so urllib cannot open file: URLs here.
        request = urllib.request.Request(  # noqa: S310
            f"{self.base_url}{CONTROL_PREFIX}/{path}",
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            return json.loads(response.read())

    def requests(self, path_prefix: str = "/") -> list[dict[str, Any]]:
        """Recorded service requests (method, path, query, body, status, t_start, t_end)."""
        records: list[dict[str, Any]] = self._call("GET", "requests")["requests"]
        return [r for r in records if r["path"].startswith(path_prefix)]

    def behave(
        self,
        path_prefix: str = "/",
        *,
        status: int | None = None,
        latency_ms: int = 0,
        times: int | None = None,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> None:
        """Slow and/or answer the next ``times`` matching requests (None: all until reset)."""
        rule = {
            "path_prefix": path_prefix,
            "status": status,
            "body": body,
            "latency_ms": latency_ms,
            "times": times,
            "retry_after": retry_after,
        }
        self._call("POST", "behaviour", rule)

    def reset(self) -> None:
        """Forget recorded requests and behaviours."""
        self._call("POST", "reset", {})
