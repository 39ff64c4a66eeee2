"""Streamed replies sent the way providers send them: paced, and broken on request.

A protocol renders its streamed reply as a list of chunks (SSE events, NDJSON lines, AWS
event-stream messages, see ``Protocol.render_stream``). :class:`PacedStream` sends them
one at a time: the first once the request's latency has passed, each next one
``token_interval_ms`` later, so a client can see its first token well before the last.

A ``stream_fault`` (:mod:`emulator.directives`) breaks the stream after ``fault_after``
chunks (by default half of them; at most all but the last, so the stream never looks
complete):

=============  ===========================================================================
fault          what the client sees
=============  ===========================================================================
``cut``        the connection closes in the middle of the body (the chunked body never
               ends), as when a provider or a proxy drops it
``error``      the protocol's mid-stream error event (``Protocol.stream_error_chunk``),
               then the end of the body, as a provider reports a failure after its 200
``malformed``  a chunk no client can decode (``Protocol.malformed_stream_chunk``), then
               the rest of the stream
=============  ===========================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from emulator.directives import StreamFault

# uvicorn logs this when a response ends before its body does; a "cut" does it on purpose.
_CUT_LOG_LINE = "ASGI callable returned without completing response."


class _DeliberateCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _CUT_LOG_LINE


logging.getLogger("uvicorn.error").addFilter(_DeliberateCuts())


def planned_chunks(
    chunks: Sequence[bytes],
    fault: StreamFault | None,
    fault_after: int | None,
    fault_chunk: bytes,
) -> tuple[list[bytes], bool]:
    """The chunks to send with ``fault`` applied, and whether the body ends properly
    (False: the connection is cut after the last one)."""
    if fault is None or not chunks:
        return list(chunks), True
    after = len(chunks) // 2 if fault_after is None else fault_after
    after = min(after, len(chunks) - 1)
    if fault == "cut":
        return list(chunks[:after]), False
    if fault == "error":
        return [*chunks[:after], fault_chunk], True
    return [*chunks[:after], fault_chunk, *chunks[after:]], True


class PacedStream(Response):
    """A 200 streaming ``chunks``, ``interval_ms`` apart; ``complete=False`` closes the
    connection after the last one instead of ending the body. Stops early when the
    client goes away."""

    def __init__(
        self,
        chunks: Sequence[bytes],
        *,
        interval_ms: int,
        media_type: str,
        headers: dict[str, str],
        complete: bool = True,
    ) -> None:
        self._chunks = chunks
        self._interval = interval_ms / 1000
        self._complete = complete
        # Set as given: Starlette would append "; charset=utf-8" to a text/ type, and some
        # clients (the OCI SDK) only recognise an event stream by the exact media type.
        self._raw_headers = [
            (b"content-type", media_type.encode()),
            *((name.lower().encode(), value.encode()) for name, value in headers.items()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        listener = asyncio.create_task(listen())
        try:
            await self._send(send, gone)
        except OSError:  # the server could not write: the client is gone (as Starlette says)
            raise ClientDisconnect() from None
        finally:
            listener.cancel()

    async def _send(self, send: Send, gone: asyncio.Event) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self._raw_headers})
        for index, chunk in enumerate(self._chunks):
            if index and self._interval:
                # The pause ends early when the client leaves: nothing more to send.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(gone.wait(), self._interval)
            if gone.is_set():
                return
            await send(_body(chunk, more=True))
        if self._complete:
            await send(_body(b"", more=False))
        # Otherwise return with the body unfinished: the server closes the connection.


def _body(chunk: bytes, *, more: bool) -> Message:
    return {"type": "http.response.body", "body": chunk, "more_body": more}
