"""``FirstCalls``: a job's claim that also admits its first provider call, in one round
trip (``tasks/jobs/scripts/claim_admit.lua``), and the verdict it got, kept until the
job's call takes it (``ModelCalls``).

The API writes what that call needs on a plain completion's record (``first_call``): the
instance it was routed to, its place in line and its token estimate, computed from the
same request the worker will send. A delivery from that instance's own queue then claims
the job and judges the call in the same script, counting it as the job's attempt when
admitted, as ``acquire_attempt.lua`` does. The worker's own estimate decides: an admission
reserving fewer tokens than the call needs is released unused and the call admitted on its
own; so is one whose job never calls (it failed first), and a job that never calls leaves
the waiting line its claim put it in. Either way the attempt stays counted, as for a call
whose worker died before it was made. A circuit's probe goes to the call whatever it
reserved: released unused, it would re-open the circuit without a call.
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
        # (job id, lease token) → the claim's verdict: one delivery's entry, only ever
        # touched by the thread running it (a job handed back and claimed again at once by
        # another thread has another token); the dict itself is thread-safe.
        self._claimed: dict[tuple[str, str], ClaimedCall] = {}

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
        self._claimed[(job_id, token)] = ClaimedCall(instance, first.tokens, verdict)
        return job, status

    def take(
        self, job_id: str, token: str, instance: InstanceConfig, tokens: int
    ) -> Admission | Wait | None:
        """The verdict the claim under ``token`` got for the job's call on ``instance``
        needing ``tokens``, once; None when there is none that fits (what the claim took
        is then given back)."""
        claimed = self._claimed.pop((job_id, token), None)
        if claimed is None:
            return None
        verdict = claimed.verdict
        # A waiter's need is set again when it asks next. A probe is used whatever it
        # reserved: released unused, it would re-open the circuit without a call (its
        # tokens are settled to the reply's after the call, like any reservation's).
        fits = claimed.tokens >= tokens or isinstance(verdict, Wait) or verdict.probe
        if claimed.instance.name == instance.name and fits:
            return verdict
        log.info("first_call_unused", reserved=claimed.tokens, needed=tokens)
        self._give_back(job_id, claimed)
        return None

    def drop(self, job_id: str, token: str) -> None:
        """The delivery under ``token`` ended: give back what its claim took and no call
        used."""
        claimed = self._claimed.pop((job_id, token), None)
        if claimed is not None:
            self._give_back(job_id, claimed)

    def _give_back(self, job_id: str, claimed: ClaimedCall) -> None:
        if isinstance(claimed.verdict, Admission):
            # No call was made: its slot is freed and its tokens settle at none. Its rpm
            # entry stays, as a conservative count, like any admission's.
            self._capacity.release(
                claimed.instance, claimed.verdict, Outcome.NEUTRAL, tokens_used=0
            )
        else:
            # Out of the waiting line the claim put it in: a job that will not ask again
            # must not be counted ahead of the jobs behind it until its grace runs out.
            self._capacity.forget(claimed.instance.name, job_id)
