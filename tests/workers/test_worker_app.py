"""The worker app with Celery's own test worker (``celery.contrib.testing``), in-process,
against the real Redis broker and the emulator."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from gateway.queues import RUN_JOB_TASK
from gateway.settings import Settings
from tasks.jobs.messages import TaskMessageBuilder
from tasks.jobs.record import JobRecord, JobStatus, JobType, new_job_id
from tasks.jobs.sync_store import SyncJobStore
from tests.support.dispatcher import JobDispatcher
from tests.support.processes import Stack
from workers.app import GatewayCelery, create_app

QUEUE = "llm.inprocess-test"


@pytest.fixture
def worker_app(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayCelery]:
    # Provider base URLs and keys come from the environment, as in production.
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(name, stack.env[name])
    app = create_app(Settings(redis_url=stack.redis.url, max_attempts=2))
    yield app
    app.close_runtime()


def put_job(client: redis.Redis, text: str) -> str:
    record = JobRecord(
        id=new_job_id(),
        tenant="t",
        type=JobType.COMPLETION,
        status=JobStatus.QUEUED,
        request={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
        created_at=time.time(),
        model="gpt-4o-mini",
        provider="openai",
        queue=QUEUE,
    )
    client.hset(f"llmgw:job:{record.id}", mapping=record.to_redis())  # type: ignore[arg-type]
    return record.id


def wait_status(store: SyncJobStore, job_id: str, seconds: float = 15) -> JobRecord:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = store.load(job_id)
        if job is not None and job.status.terminal:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not terminal: {store.load(job_id)}")


def test_task_is_registered_under_its_public_name(worker_app: GatewayCelery) -> None:
    assert RUN_JOB_TASK in worker_app.tasks
    assert worker_app.conf.task_acks_late is True
    assert worker_app.conf.task_reject_on_worker_lost is True
    assert worker_app.conf.worker_prefetch_multiplier == 1


def test_dispatched_job_runs_on_celery_test_worker(worker_app: GatewayCelery, stack: Stack) -> None:
    client = redis.Redis.from_url(stack.redis.url)
    store = SyncJobStore(client)
    with start_worker(
        worker_app, pool="threads", concurrency=2, perform_ping_check=False, queues=[QUEUE]
    ):
        ids = [put_job(client, f"in-process {i}") for i in range(3)]
        dispatcher = JobDispatcher(worker_app)
        for job_id in ids:
            dispatcher.dispatch(job_id, QUEUE, priority=5, request_id="req-inproc")
        jobs = [wait_status(store, job_id) for job_id in ids]
    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED] * 3
    assert [j.result["message"]["content"] for j in jobs if j.result] == [
        f"echo: in-process {i}" for i in range(3)
    ]
    client.close()


def test_retry_goes_through_the_deferred_set_and_back_to_the_queue(
    worker_app: GatewayCelery, stack: Stack
) -> None:
    from emulator import EmulatorControl

    control = EmulatorControl(stack.emulator_url)
    control.reset()
    control.script({"status": 500}, {"reply": "after retry"})
    client = redis.Redis.from_url(stack.redis.url)
    # The upkeep thread (started by Celery's after-setup signal in a real worker) pumps it.
    worker_app.runtime.start("inprocess-test", [QUEUE])
    with start_worker(
        worker_app, pool="threads", concurrency=1, perform_ping_check=False, queues=[QUEUE]
    ):
        job_id = put_job(client, "x")
        # As the API does: the record keeps the message it was queued with.
        message = TaskMessageBuilder().run_job(job_id, QUEUE, 5, None)
        client.hset(
            f"llmgw:job:{job_id}", mapping={"message": message.payload, "message_key": message.key}
        )
        client.lpush(message.key, message.payload)
        job = wait_status(SyncJobStore(client), job_id)
    control.reset()
    assert job.status is JobStatus.SUCCEEDED and job.attempts == 2
    assert job.result is not None and job.result["message"]["content"] == "after retry"
    client.close()


def test_a_started_worker_hands_jobs_to_pool_threads_with_its_switch_interval(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(name, stack.env[name])
    app = create_app(Settings(redis_url=stack.redis.url, worker_switch_interval_ms=2.5))
    before = sys.getswitchinterval()
    try:
        app.runtime.start("switch-test", [QUEUE])
        assert sys.getswitchinterval() == pytest.approx(0.0025)
    finally:
        sys.setswitchinterval(before)
        app.close_runtime()
