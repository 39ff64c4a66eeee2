"""One provider call of a streaming job: the provider's events go to the job's stream
(``tasks.jobs.stream``) as they arrive, and are assembled into the same ``ChatResponse`` a
non-streamed call returns, so everything after the call (recording, usage, limits) is the
same either way.

Each event is appended as soon as it arrives (one short Lua call): the time to the first
token is what streaming is for, and providers pace tokens tens of milliseconds apart, so
batching would only add latency. An append is refused once the worker no longer holds
the job (reaped after a stall, cancelled by the client); the call then stops at once,
which also closes the provider's stream so the provider stops generating.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import ProviderError, ProviderUnavailable, StreamInterrupted
from providers.base import Provider
from providers.streaming import StreamAssembler
from providers.types import ChatRequest, ChatResponse
from tasks.jobs import stream
from tasks.jobs.sync_store import SyncJobStore


class LeaseLost(Exception):
    """The job is no longer this worker's: stop, record nothing."""


@dataclass(frozen=True, slots=True)
class StreamedCall:
    """Runs provider calls whose events go to a job's stream."""

    store: SyncJobStore

    def run(
        self,
        job_id: str,
        token: str,
        provider: Provider,
        request: ChatRequest,
        *,
        attempt: int,
        turn: int,
        instance: str,
        first_event: Callable[[float], None] | None = None,
    ) -> ChatResponse:
        """The assembled reply. Raises the provider's ``ProviderError`` when it fails before
        any output was streamed (retried or moved as usual), ``StreamInterrupted`` when it
        fails after, and ``LeaseLost`` when the job stopped being ours. ``first_event`` is
        told the seconds from the call to the provider's first event (time to first token)."""
        assembler = StreamAssembler(model=request.model)
        # The attempt marker goes out with the first event: a call that fails before
        # producing anything leaves no trace in the stream.
        pending = [stream.encode(stream.attempt_event(attempt, turn, instance))]
        delivered = 0
        started = time.perf_counter()
        events = provider.stream(request)
        try:
            for event in events:
                if first_event is not None and delivered == 0 and len(pending) == 1:
                    first_event(time.perf_counter() - started)
                assembler.add(event)
                pending.append(stream.encode(stream.provider_event(event)))
                if not self.store.append_stream(job_id, token, pending):
                    raise LeaseLost(job_id)
                delivered += len(pending) - 1
                pending = []
        except ProviderError as exc:
            if delivered == 0:
                raise
            raise StreamInterrupted(
                f"{exc.message} (after {delivered} streamed events)",
                provider=exc.provider or instance,
                upstream_status=exc.upstream_status,
            ) from None
        finally:
            events.close()
        if not assembler.ended:
            error = ProviderUnavailable("the provider's stream ended early", provider=instance)
            if delivered == 0:
                raise error
            raise StreamInterrupted(
                f"{error.message} (after {delivered} streamed events)", provider=instance
            )
        return assembler.response()
