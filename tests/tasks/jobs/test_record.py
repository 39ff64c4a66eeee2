"""``JobRecord``: what a job paid for beyond the usage its result shows
(``orphaned_usage``), and which fields its hash keeps (``to_redis``)."""

from __future__ import annotations

import time

from tasks.jobs.record import JobRecord, JobStatus, JobType


def record(status: JobStatus = JobStatus.SUCCEEDED, **fields: object) -> JobRecord:
    return JobRecord(
        id="job_x",
        tenant="t",
        type=JobType.COMPLETION,
        status=status,
        request={},
        created_at=time.time(),
        **fields,  # type: ignore[arg-type]
    )


def test_a_job_whose_every_reply_is_in_its_usage_has_none() -> None:
    # Per-turn costs summed in Redis and in the loop state, each rounded to 8 places.
    job = record(
        usage={"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42},
        cost_usd=0.3 + 0.6,
        paid_prompt_tokens=30,
        paid_completion_tokens=12,
        paid_cost_usd=0.9,
    )
    assert job.orphaned_usage() is None


def test_a_record_from_before_paid_replies_were_recorded_has_none() -> None:
    job = record(usage={"prompt_tokens": 3, "completion_tokens": 2}, cost_usd=0.1)
    assert job.orphaned_usage() is None and job.public()["orphaned_usage"] is None


def test_replies_beyond_the_usage_are_orphaned_with_their_cost() -> None:
    job = record(
        usage={"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42},
        cost_usd=0.00001,
        paid_prompt_tokens=60,
        paid_completion_tokens=24,
        paid_cost_usd=0.00002,
    )
    assert job.public()["orphaned_usage"] == {
        "prompt_tokens": 30,
        "completion_tokens": 12,
        "total_tokens": 42,
        "cost_usd": 0.00001,
    }


def test_a_cancelled_job_without_usage_or_price_orphans_every_paid_token() -> None:
    job = record(status=JobStatus.CANCELLED, paid_prompt_tokens=7, paid_completion_tokens=1)
    assert job.orphaned_usage() == {
        "prompt_tokens": 7,
        "completion_tokens": 1,
        "total_tokens": 8,
        "cost_usd": None,
    }


def test_counters_and_metadata_at_their_defaults_are_not_stored_and_read_back_as_defaults() -> None:
    # Each field of a hashtable-encoded hash costs ~60 bytes beside its value.
    fresh = record(JobStatus.QUEUED)
    stored = fresh.to_redis()
    counters = {"attempts", "failures", "priority", "recoveries"}
    left_out = counters | {"paid_prompt_tokens", "paid_completion_tokens", "metadata"}
    assert left_out.isdisjoint(stored)
    assert JobRecord.from_redis(stored) == fresh


def test_counters_and_metadata_away_from_their_defaults_are_stored() -> None:
    moved = record(attempts=2, failures=1, priority=3, recoveries=1, metadata={"a": "b"})
    stored = moved.to_redis()
    assert (stored["attempts"], stored["failures"], stored["priority"]) == ("2", "1", "3")
    assert stored["recoveries"] == "1" and stored["metadata"] == '{"a":"b"}'
    assert JobRecord.from_redis(stored) == moved
