"""A plain completion's reply is paid for in its finish's script; when that script's round
trip fails (before Redis ran it, or its reply lost), it is paid for on its own, once.
Against a real Redis (``tests.tasks.jobs.test_execution``'s runner and scripted provider)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from tasks.jobs.record import JobStatus
from tasks.jobs.sync_store import SyncJobStore
from tests.tasks.jobs.test_execution import ScriptedProvider as ProviderStub
from tests.tasks.jobs.test_execution import make_runner, put_job


@pytest.fixture
def sync_redis(isolated_redis: redis.Redis) -> redis.Redis:
    return isolated_redis


def month_requests(client: redis.Redis) -> int:
    month = time.strftime("%Y-%m", time.gmtime())
    return int(client.hget(f"llmgw:usage:t:month:{month}", "requests") or 0)


def test_a_plain_answer_is_paid_for_once_with_its_finish(sync_redis: redis.Redis) -> None:
    job_id = put_job(sync_redis)
    make_runner(sync_redis, ProviderStub(["hello"])).run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED
    assert (job.attempts, job.paid_prompt_tokens, job.paid_completion_tokens) == (1, 3, 2)
    assert job.public()["orphaned_usage"] is None
    assert month_requests(sync_redis) == 1
    assert sync_redis.zcard("llmgw:limit:openai:inflight") == 0


@pytest.mark.parametrize("sent", [False, True], ids=["lost-before-redis", "reply-lost"])
def test_an_answer_whose_finish_fails_on_the_wire_is_paid_for_once(
    sync_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch, sent: bool
) -> None:
    # The connection drops as the finish script goes out: before Redis ran it, or after
    # (its reply lost). Either way the reply is paid for exactly once, and the job is left
    # running under its lease for the reaper, as any Redis failure mid-delivery.
    job_id = put_job(sync_redis)
    runner = make_runner(sync_redis, ProviderStub(["hello"]))
    scripts = runner.calls.store._scripts
    finish_paid = scripts.finish_paid

    def dropped(*args: Any, **kwargs: Any) -> Any:
        if sent:
            finish_paid(*args, **kwargs)
        raise redis.ConnectionError("dropped")

    monkeypatch.setattr(scripts, "finish_paid", dropped)
    with pytest.raises(redis.ConnectionError, match=r"^dropped$"):
        runner.run(job_id)
    job = SyncJobStore(sync_redis).load(job_id)
    assert job is not None
    assert job.status is (JobStatus.SUCCEEDED if sent else JobStatus.RUNNING)
    assert (job.attempts, job.paid_prompt_tokens, job.paid_completion_tokens) == (1, 3, 2)
    assert month_requests(sync_redis) == 1
    # And its capacity was given back.
    assert sync_redis.zcard("llmgw:limit:openai:inflight") == 0
