"""``JSONResponse`` rendered with orjson (the hot path serializes records and completions),
and a streamed response that always releases what feeds it."""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.offload import Offload


class FastJSONResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def offloaded_json(
    offload: Offload,
    size: int,
    content: Callable[[], Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A JSON response whose content is built and serialized off the event loop when
    ``size`` (the request's body) says it is large: a job record repeats its request."""
    body = await offload.run(size, lambda: orjson.dumps(content()))
    return Response(body, status_code, headers, media_type=FastJSONResponse.media_type)


def retry_after_header(seconds: object) -> dict[str, str]:
    """``retry-after`` for a provider's last word on when to come back (a number of
    seconds, rounded up: the header takes whole seconds); nothing for anything else."""
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return {"retry-after": str(max(0, math.ceil(seconds)))}
    return {}


class ClosingStreamingResponse(StreamingResponse):
    """A ``StreamingResponse`` that awaits ``on_close`` however the response ended: sent
    whole, the client gone mid-way, or never started (the client left before the first
    byte, so the body's generator never ran and its own ``finally`` never would)."""

    def __init__(
        self,
        content: AsyncIterable[bytes],
        headers: Mapping[str, str],
        on_close: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(content, headers=headers)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._on_close()
