"""What every job kind is to the runner: a ``JobKindRunner`` looked up by the job's type,
and what the kinds share — the parts of a model-calling kind (``ModelParts``) and how a
success is recorded (``record_success``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from limits.capacity_scripts import ReleaseCall
from providers.base import Provider
from tasks.jobs.job_scripts import PaidReply
from tasks.jobs.record import JobRecord, JobStatus, JobType
from tasks.jobs.sync_store import SessionAppend, SyncJobStore
from tasks.loops.model_calls import ModelCalls
from tasks.loops.runner import LoopRunner
from tools.registry import ToolRegistry

log = structlog.get_logger(__name__)


class JobKindRunner(Protocol):
    """Runs one claimed delivery of a job of its ``kind`` and records its outcome — or
    hands the job back to wait; raising a ``GatewayError`` fails the job. ``token`` is the
    delivery's lease: only its holder can checkpoint or finish the job."""

    @property
    def kind(self) -> JobType: ...

    def run(self, job: JobRecord, token: str) -> None: ...


def kinds_table(*runners: JobKindRunner) -> Mapping[JobType, JobKindRunner]:
    """The runners by the kind they run; a kind given twice is a wiring mistake."""
    table: dict[JobType, JobKindRunner] = {}
    for runner in runners:
        if runner.kind in table:
            raise ValueError(f"job kind {runner.kind.value!r} has two runners")
        table[runner.kind] = runner
    return table


@dataclass(frozen=True, slots=True)
class ModelParts:
    """What a kind that calls models shares with the others: the turns under capacity
    (``calls``, its store included), the tool loops, the provider clients and the
    gateway's tools."""

    calls: ModelCalls
    loops: LoopRunner
    provider_for: Callable[[str], Provider]
    tools: ToolRegistry

    @property
    def store(self) -> SyncJobStore:
        return self.calls.store


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What a successful job writes back to its record."""

    result: dict[str, Any]
    usage: dict[str, int] | None = None
    cost_usd: float | None = None


def record_success(
    store: SyncJobStore,
    job: JobRecord,
    token: str,
    outcome: JobOutcome,
    seconds: float,
    session: SessionAppend | None = None,
    paid: PaidReply | None = None,
    release: ReleaseCall | None = None,
) -> None:
    """Record the job as succeeded (with ``session``'s new turns), if ``token`` still
    holds it; a job cancelled meanwhile keeps its state and the result is dropped.
    ``paid``: the answer's provider reply, recorded as paid for in the same step, whoever
    holds the job; ``release`` (with ``paid``, no session): its call released too."""
    moved, current = store.finish(
        job.id,
        token,
        JobStatus.SUCCEEDED,
        fields={
            "result": outcome.result,
            "usage": outcome.usage,
            "cost_usd": outcome.cost_usd,
            "error": None,
            "finished_at": time.time(),
        },
        session=session,
        paid=paid,
        release=release,
    )
    if moved:
        log.info("job_succeeded", seconds=round(seconds, 4), usage=outcome.usage)
    else:
        log.info("job_result_discarded", status=current)
