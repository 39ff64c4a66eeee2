"""Per-server mutable state: latency, the script queue and recorded requests.

One :class:`EmulatorState` is created by ``create_app`` and attached to the app
(``app.state.emulator``); nothing is kept at module level, so several
emulators can run in one process (e.g. one per test).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from emulator.directives import Directive

#: Recorded requests kept; older ones are dropped so long benchmarks stay bounded.
DEFAULT_MAX_RECORDS = 100_000


class EmulatorState:
    """Everything the control API can read or change.

    The server runs on a single asyncio event loop and none of these methods
    await, so no locking is needed.
    """

    def __init__(self, latency_ms: int = 0, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        self.latency_ms = latency_ms
        self._records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._script: deque[Directive] = deque()

    def record(
        self,
        *,
        t: float,
        protocol: str,
        path: str,
        model: str | None,
        body: Any,
        status: int,
    ) -> None:
        """Remember one generation request (``t`` is its receipt time, epoch seconds)."""
        self._records.append(
            {
                "t": t,
                "protocol": protocol,
                "path": path,
                "model": model,
                "body": body,
                "status": status,
            }
        )

    def records(self) -> list[dict[str, Any]]:
        """Recorded requests, oldest first."""
        return list(self._records)

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
