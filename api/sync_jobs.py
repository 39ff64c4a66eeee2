"""Synchronous endpoints on top of jobs (``/v1/chat/completions``, ``/v1/messages``,
``/v1/embeddings``, ``/v1/tools/execute``): submit a job, wait for it on the completion
hub, and answer with its outcome; or submit one whose stream the caller follows."""

from __future__ import annotations

import asyncio

from api.documents import check_documents
from api.errors import error_response
from api.responses import FastJSONResponse, retry_after_header
from api.services import ApiServices
from gateway.errors import JobTimeout, ServiceUnavailable, status_for_error_type
from tasks.jobs.record import JobRecord, JobStatus, new_job_id
from tasks.jobs.submission import JobSpec

JOB_ID_HEADER = "x-llm-gateway-job-id"
# OpenAI's and Anthropic's SDKs honour this header. A failed or timed-out job has already
# been retried by the gateway (or is still running): an SDK retry would submit a duplicate.
NO_SDK_RETRY = {"x-should-retry": "false"}


async def submit_and_wait(
    services: ApiServices, spec: JobSpec, job_id: str, body_size: int
) -> JobRecord | FastJSONResponse:
    """The finished record, or a 504 in the error shape if it is not done in time.
    ``body_size`` decides whether the checks run off the event loop."""

    def prepared() -> tuple[JobRecord, dict[str, str]]:
        record = services.submitter.prepare(spec, job_id)
        return record, record.to_redis()

    record, fields = await services.offload.run(body_size, prepared)
    await check_documents(services, record)
    await require_worker(services, record)
    timeout = services.settings.sync_timeout_seconds
    # Watch before submitting: the completion cannot be announced before we listen.
    with services.hub.watch(record.id) as finished:
        await services.submitter.submit(record, fields)
        services.metrics.jobs_submitted.labels(record.type.value, record.provider or "").inc()
        try:
            # A deadline on this task rather than ``wait_for``, which (on 3.11) runs the wait
            # in a task of its own: one task and one loop pass fewer per request.
            async with asyncio.timeout(timeout):
                await finished.wait()
        except TimeoutError:
            error = JobTimeout(
                f"job {record.id} did not finish within {timeout:g}s; poll GET /v1/jobs/{record.id}"
            )
            headers = {JOB_ID_HEADER: record.id, **NO_SDK_RETRY}
            return FastJSONResponse({"error": error.to_dict()}, status_code=504, headers=headers)
    return await services.store.get_finished(record.id, spec.tenant, finished)


async def submit_streaming(services: ApiServices, spec: JobSpec, body_size: int) -> JobRecord:
    """Submit a job whose answer will be followed on its stream (not waited for): the
    record, stored and queued. ``body_size`` decides whether the checks run off the loop."""

    def prepared() -> tuple[JobRecord, dict[str, str]]:
        record = services.submitter.prepare(spec, new_job_id())
        return record, record.to_redis()

    record, fields = await services.offload.run(body_size, prepared)
    await check_documents(services, record)
    await require_worker(services, record)
    await services.submitter.submit(record, fields)
    services.metrics.jobs_submitted.labels(record.type.value, record.provider or "").inc()
    return record


async def require_worker(services: ApiServices, record: JobRecord) -> None:
    """A 503 when no live worker consumes the job's queue. Routing prefers instances a
    worker serves; when none does, a queued job would wait for one to start, and a caller
    waiting for its answer with it (up to the timeout). Say so now instead."""
    if record.queue is None or await services.monitor.serves(record.queue):
        return
    where = f"provider instance {record.provider!r}" if record.provider else "tool jobs"
    raise ServiceUnavailable(
        f"no worker is serving {where} (queue {record.queue}) now; try again later, "
        "or submit it as a job (POST /v1/jobs), which waits in the queue for a worker"
    )


def job_error(job: JobRecord) -> FastJSONResponse:
    """A job that did not succeed, in the error shape with the status its error maps to."""
    error = job.error or {"type": "internal_error", "message": "job failed"}
    error_type = str(error.get("type", "internal_error"))
    status = 409 if job.status is JobStatus.CANCELLED else status_for_error_type(error_type)
    # The provider's last word on when to come back, for a caller that schedules its own.
    headers = {
        JOB_ID_HEADER: job.id,
        **NO_SDK_RETRY,
        **retry_after_header(error.get("retry_after")),
    }
    return error_response(
        status, error_type, str(error.get("message", "job failed")), error.get("param"), headers
    )
