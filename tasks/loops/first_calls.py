"""``FirstCalls``: a job's claim that also admits its first provider call, in one round
trip (``tasks/jobs/scripts/claim_admit.lua``), and the verdict it got, kept until the
job's call takes it (``ModelCalls``).

The API writes what that call needs on a plain completion's record (``first_call``): its
place in line and its token estimate, computed from the same request the worker will send.
A delivery from an instance's own queue then claims the job and judges the call in the
same script, counting it as the job's attempt when admitted, as ``acquire_attempt.lua``
does. The worker's own estimate decides: an admission reserving fewer tokens than the call
needs, or made for another instance, is released unused and the call admitted on its own;
so is one whose job never calls (it failed first). Either way the attempt stays counted,
as for a call whose worker died before it was made.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from limits.capacity import Admission, Outcome, ProviderCapacity, RequestTooLarge, Wait
from providers.config import InstanceConfig
from tasks.jobs.record import JobRecord
from tasks.jobs.sync_store import SyncJobStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ClaimedCall:
    """The verdict a job's claim got for its first call on ``instance``, for ``tokens``."""

    instance: InstanceConfig
    tokens: int
    verdict: Admission | Wait


class FirstCalls:
    """Claims that admit the job's first call, and their verdicts until the call."""

    def __init__(
        self,
        store: SyncJobStore,
        capacity: ProviderCapacity,
        instances: Mapping[str, InstanceConfig],
    ) -> None:
        self._store = store
        self._capacity = capacity
        # A queue names its instance only when exactly one instance uses it.
        by_queue: dict[str, list[InstanceConfig]] = {}
        for instance in instances.values():
            by_queue.setdefault(instance.queue, []).append(instance)
        self._by_queue = {q: found[0] for q, found in by_queue.items() if len(found) == 1}
        # Job id → its claim's verdict. Each job runs on one thread at a time (its lease),
        # so one entry is only ever touched by one thread; the dict itself is thread-safe.
        self._claimed: dict[str, ClaimedCall] = {}

    def claim(self, job_id: str, token: str, queue: str | None) -> tuple[JobRecord | None, str]:
        """``SyncJobStore.claim``; for a delivery from an instance's own queue, with the
        first call admitted (or told to wait) in the same step when the record allows."""
        instance = self._by_queue.get(queue or "")
        if instance is None:
            return self._store.claim(job_id, token)
        admission_token = uuid.uuid4().hex
        args = self._capacity.admission_args(instance, admission_token)
        job, status, first = self._store.claim_admit(job_id, token, instance.name, args)
        if job is None or first is None:
            return job, status
        try:
            verdict = self._capacity.verdict(instance, first.tokens, admission_token, first.reply)
        except RequestTooLarge:
            # Nothing taken: the call's own admission says so, and falls back.
            return job, status
        self._claimed[job_id] = ClaimedCall(instance, first.tokens, verdict)
        return job, status

    def take(self, job_id: str, instance: InstanceConfig, tokens: int) -> Admission | Wait | None:
        """The claim's verdict for the job's call on ``instance`` needing ``tokens``, once;
        None when there is none that fits (an admission that does not is released)."""
        claimed = self._claimed.pop(job_id, None)
        if claimed is None:
            return None
        if claimed.instance.name == instance.name and claimed.tokens >= tokens:
            return claimed.verdict
        log.info("first_call_unused", reserved=claimed.tokens, needed=tokens)
        self._release(claimed)
        return None

    def drop(self, job_id: str) -> None:
        """The job's run ended: release what its claim admitted and no call took."""
        claimed = self._claimed.pop(job_id, None)
        if claimed is not None:
            self._release(claimed)

    def _release(self, claimed: ClaimedCall) -> None:
        # No call was made: its slot is freed and its tokens settle at none. Its rpm entry
        # stays, as a conservative count, like any admission's.
        if isinstance(claimed.verdict, Admission):
            self._capacity.release(
                claimed.instance, claimed.verdict, Outcome.NEUTRAL, tokens_used=0
            )
