"""Per-server mutable state: latency and stream pacing, the script queue, recorded requests and
in-flight counters.

One :class:`EmulatorState` is created by ``create_app`` and attached to the app
(``app.state.emulator``); nothing is kept at module level, so several
emulators can run in one process (e.g. one per test).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from emulator.directives import Directive

#: Recorded requests kept; older ones are dropped so long benchmarks stay bounded.
DEFAULT_MAX_RECORDS = 100_000
#: Characters of each tool result kept in a record (enough to assert on, bounded memory).
RECORDED_TOOL_RESULT_CHARS = 2000
#: Models the emulated Ollama server lists at ``GET /api/tags`` until changed.
DEFAULT_OLLAMA_MODELS = ("llama3.2",)


class EmulatorState:
    """Everything the control API can read or change.

    The server runs on a single asyncio event loop and none of these methods
    await, so no locking is needed.
    """

    def __init__(
        self,
        latency_ms: int = 0,
        max_records: int = DEFAULT_MAX_RECORDS,
        token_interval_ms: int = 0,
    ) -> None:
        self.latency_ms = latency_ms
        # The pause between two chunks of a streamed reply, unless a directive sets one.
        self.token_interval_ms = token_interval_ms
        self._records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._script: deque[Directive] = deque()
        self.in_flight = 0
        self.peak_in_flight = 0
        # The "pulled" models of the emulated Ollama server (its /api/tags listing).
        self.ollama_models: list[str] = list(DEFAULT_OLLAMA_MODELS)

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Count one generation request as in flight for the duration of the block."""
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1

    def reset_peak(self) -> None:
        """Restart peak tracking from the current ``in_flight``."""
        self.peak_in_flight = self.in_flight

    def stats(self) -> dict[str, int]:
        """Concurrency counters and the number of recorded requests."""
        return {
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "requests": len(self._records),
        }

    def record(
        self,
        *,
        t: float,
        protocol: str,
        path: str,
        model: str | None,
        body: Any,
        status: int,
        turn: int | None = None,
        tool_results: Sequence[str] | None = None,
        stream: bool = False,
    ) -> dict[str, Any]:
        """Remember one generation request (``t`` is its receipt time, epoch seconds).

        ``turn`` (assistant messages after the last user message) and
        ``tool_results`` (each cut to :data:`RECORDED_TOOL_RESULT_CHARS`) are
        ``None`` when the request could not be parsed; ``stream`` whether it asked for a
        streamed reply. Returns the record so
        :meth:`complete` can fill in the outcome later; until then ``t_done``
        and ``usage`` are ``None``.
        """
        entry: dict[str, Any] = {
            "t": t,
            "protocol": protocol,
            "path": path,
            "model": model,
            "body": body,
            "status": status,
            "stream": stream,
            "turn": turn,
            "tool_results": (
                None
                if tool_results is None
                else [text[:RECORDED_TOOL_RESULT_CHARS] for text in tool_results]
            ),
            "usage": None,
            "t_done": None,
        }
        self._records.append(entry)
        return entry

    def complete(
        self, entry: dict[str, Any], *, t_done: float, usage: dict[str, int] | None = None
    ) -> None:
        """Fill in when the reply was produced and, for successes, its token usage."""
        entry["t_done"] = t_done
        entry["usage"] = usage

    def records(self) -> list[dict[str, Any]]:
        """Recorded requests, oldest first (snapshots: later completion won't change them)."""
        return [dict(entry) for entry in self._records]

    def clear_records(self) -> None:
        """Forget all recorded requests."""
        self._records.clear()

    def enqueue(self, behaviours: Iterable[Directive]) -> int:
        """Append scripted behaviours; returns the queue length."""
        self._script.extend(behaviours)
        return len(self._script)

    def next_scripted(self) -> Directive | None:
        """Pop the next scripted behaviour, if any."""
        return self._script.popleft() if self._script else None

    def script_length(self) -> int:
        """Number of scripted behaviours still queued."""
        return len(self._script)

    def clear_script(self) -> None:
        """Drop all queued behaviours."""
        self._script.clear()
