"""Carries an upload's body from the event loop to the thread that sends it to the store.

The event loop reads ``request.stream()`` and puts chunks into a small bounded queue; the
store's SDK, in its thread, calls :meth:`UploadPipe.read` and blocks until a chunk comes.
At most ``depth`` chunks wait in between, so an upload holds about one part (the SDK's) plus
a few chunks in memory however large the object is, and a slow store slows the client
down (TCP backpressure) instead of filling the API's memory.

If the body fails (over the size limit, the client went away, or no bytes came for
``idle_seconds``), ``read`` raises :class:`BodyFailed` in the SDK's thread, so the SDK
abandons the upload and nothing is created; the route then answers with ``error``."""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import AsyncIterator

from gateway.errors import InvalidRequest

_END = b""
# How long a blocked ``read`` waits before looking whether the body failed meanwhile.
_POLL_SECONDS = 0.5


class BodyFailed(Exception):
    """Raised in the store's thread: the body will not arrive whole."""


class UploadPipe:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, depth: int = 16, idle_seconds: float = 60.0
    ) -> None:
        self._loop = loop
        self._idle_seconds = idle_seconds
        self._chunks: queue.Queue[bytes] = queue.Queue(maxsize=depth)
        self._space = asyncio.Event()
        self._buffer = memoryview(b"")
        self._ended = False
        self._position = 0
        self.failed = False
        self.error: BaseException | None = None
        self.received = 0

    async def feed(self, first: bytes, rest: AsyncIterator[bytes]) -> None:
        """Put ``first`` and then every chunk of ``rest`` into the pipe, then its end; on
        an error keep it in ``error`` and tell the reader."""
        try:
            await self._put(first)
            async for chunk in rest:
                if chunk:
                    await self._put(chunk)
            await self._put(_END)
        except BaseException as exc:
            if self.error is None:  # the first reason stands (the reader's idle timeout)
                self.error = exc
            self.failed = True
            if not isinstance(exc, Exception):
                raise

    async def _put(self, chunk: bytes) -> None:
        while True:
            try:
                self._chunks.put_nowait(chunk)
                self.received += len(chunk)
                return
            except queue.Full:
                self._space.clear()
                if not self._chunks.full():
                    continue
                # Set by the reader after each chunk it takes (``_took``).
                await self._space.wait()

    def _took(self) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._space.set)

    def _next_chunk(self) -> bytes:
        # A client that stops sending would otherwise hold this thread for good: the
        # server sets no deadline on reading a body.
        deadline = time.monotonic() + self._idle_seconds
        while True:
            if self.failed:
                raise BodyFailed("the request body failed")
            try:
                chunk = self._chunks.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if time.monotonic() >= deadline:
                    self.error = InvalidRequest(
                        f"no body bytes arrived for {self._idle_seconds:g} s; the upload "
                        "was abandoned",
                        param="body",
                    )
                    self.failed = True
                continue
            self._took()
            return chunk

    def read(self, size: int = -1, /) -> bytes:
        """``size`` bytes (all the rest for ``-1``), fewer only at the end of the body, like
        a file: the SDKs take a short read for the end (GCS's resumable upload does).
        Blocks until they arrive; called in the store's thread, never on the event loop."""
        parts: list[bytes] = []
        wanted = size if size >= 0 else None
        got = 0
        while wanted is None or got < wanted:
            if not self._buffer:
                if self._ended:
                    break
                chunk = self._next_chunk()
                self._ended = chunk == _END
                self._buffer = memoryview(chunk)
                continue
            take = len(self._buffer) if wanted is None else wanted - got
            piece = self._buffer[:take]
            self._buffer = self._buffer[len(piece) :]
            parts.append(bytes(piece))
            got += len(piece)
        self._position += got
        return b"".join(parts)

    @property
    def exhausted(self) -> bool:
        """Whether the store read the body to its end."""
        return self._ended and not self._buffer

    def tell(self) -> int:
        """Bytes read so far (GCS's resumable upload checks that it starts at 0)."""
        return self._position

    # The SDKs look for these on a file-like body.
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False
