"""``Offload``: a large request's CPU work (parsing, validating, routing, fingerprinting,
decoding and encoding its record) runs in a worker thread, so the API's event loop keeps
answering everyone else meanwhile.

Small work stays on the loop: a thread hop costs more than it. The threads are few (one by
default) on purpose: they share the GIL with the loop. Python code hands it back every few
milliseconds, but a single C call keeps it until it returns (orjson parsing a node-dense
1 MiB body took ~30 ms here), so each more busy thread is one more such call the loop may
wait behind (docs/benchmarks.md, "/health under load").
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Offload:
    """Runs ``fn`` on the loop for sizes under ``threshold_bytes``, else in one of
    ``threads`` worker threads (with the caller's context: its log fields)."""

    def __init__(self, threshold_bytes: int, threads: int) -> None:
        self.threshold_bytes = threshold_bytes
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="offload")

    def wanted(self, size: int) -> bool:
        return size >= self.threshold_bytes

    async def run(self, size: int, fn: Callable[[], T]) -> T:
        if not self.wanted(size):
            return fn()
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._pool, context.run, fn)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
