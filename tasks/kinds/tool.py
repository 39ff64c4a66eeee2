"""The ``tool`` job kind: one call of a gateway tool, no model involved. A tool that fails
fails the job at once (one attempt): its error is the result the client asked for."""

from __future__ import annotations

from tasks.jobs.record import JobRecord, JobType
from tasks.kinds.base import JobOutcome, record_success
from tasks.loops.model_calls import ModelCalls
from tools.executor import ToolExecutor


class ToolKind:
    """Runs ``tool`` jobs through the executor (its timeouts, circuits and parallelism)."""

    kind = JobType.TOOL

    def __init__(self, *, executor: ToolExecutor, calls: ModelCalls) -> None:
        self.executor = executor
        # For its store and ``fail``: a tool job is recorded like any other.
        self.calls = calls

    def run(self, job: JobRecord, token: str) -> None:
        name = str(job.request.get("name", ""))
        if not self.calls.store.start_attempt(job.id, token):
            return  # cancelled or taken over meanwhile: the tool is not run
        outcome = self.executor.run(name, job.request.get("arguments", {}))
        if not outcome.ok:
            self.calls.fail(job, token, dict(outcome.error or {}), failures=1)
            return
        result = {"name": name, "output": outcome.output, "seconds": round(outcome.seconds, 4)}
        record_success(self.calls.store, job, token, JobOutcome(result=result), outcome.seconds)
