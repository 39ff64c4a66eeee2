"""``InFlight``: the jobs and provider calls one worker process is running right now, so
its upkeep thread can renew their leases (``workers.runtime``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from limits.capacity import Admission


class InFlight:
    """Thread-safe registry of running job ids and admitted provider calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, str] = {}
        self._calls: dict[str, Admission] = {}

    @contextmanager
    def job(self, job_id: str, token: str) -> Iterator[None]:
        """Running ``job_id`` under lease ``token`` for the duration of the block."""
        with self._lock:
            self._jobs[token] = job_id
        try:
            yield
        finally:
            with self._lock:
                self._jobs.pop(token, None)

    @contextmanager
    def call(self, admission: Admission) -> Iterator[None]:
        with self._lock:
            self._calls[admission.token] = admission
        try:
            yield
        finally:
            with self._lock:
                self._calls.pop(admission.token, None)

    def snapshot(self) -> tuple[list[tuple[str, str]], list[Admission]]:
        """((job id, lease token) of running jobs, admitted calls) at this moment."""
        with self._lock:
            return [(job, token) for token, job in self._jobs.items()], list(self._calls.values())
