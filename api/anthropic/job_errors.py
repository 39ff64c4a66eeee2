"""A synchronous message's job that did not end well, answered in Anthropic's shape: its
failure with the status its error maps to, or the wait's 504."""

from __future__ import annotations

import orjson

from api.anthropic.errors import anthropic_error
from api.responses import FastJSONResponse
from api.sync_jobs import JOB_ID_HEADER, NO_SDK_RETRY
from gateway.errors import status_for_error_type
from tasks.jobs.record import JobRecord, JobStatus


def job_failed(job: JobRecord) -> FastJSONResponse:
    """A job that did not succeed; a 429 carries the provider's ``retry-after``."""
    error = job.error or {"type": "internal_error", "message": "job failed"}
    error_type = str(error.get("type", "internal_error"))
    status = 409 if job.status is JobStatus.CANCELLED else status_for_error_type(error_type)
    return anthropic_error(
        status,
        error_type,
        str(error.get("message", "job failed")),
        headers={JOB_ID_HEADER: job.id, **NO_SDK_RETRY},
        retry_after=error.get("retry_after"),
    )


def timed_out(response: FastJSONResponse) -> FastJSONResponse:
    """``submit_and_wait``'s 504 (in the gateway's shape, naming the job to poll)."""
    message = str(orjson.loads(response.body)["error"]["message"])
    headers = {k: response.headers[k] for k in (JOB_ID_HEADER, *NO_SDK_RETRY)}
    return anthropic_error(response.status_code, "timeout", message, headers=headers)
