"""Doing the bad thing: a worker killed with SIGKILL in the middle of slow calls loses no
job, and no job ends twice; jobs wait in priority order while no worker consumes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import redis

from emulator import EmulatorControl, directive
from tests.conftest import LIMIT_QUEUES
from tests.support.processes import Stack, wait_until


def submit(client: httpx.Client, model: str, text: str, priority: int = 5) -> str:
    response = client.post(
        "/v1/jobs",
        json={
            "type": "completion",
            "priority": priority,
            "request": {"model": model, "messages": [{"role": "user", "content": text}]},
        },
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


class DoneEvents:
    """Counts the terminal-state events published per job."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe("llmgw:events:job-done")
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.2)
            if message is not None:
                job_id, _, _ = message["data"].decode().partition(" ")
                self.counts[job_id] += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._pubsub.close()
        self._client.close()


@pytest.fixture
def done_events(stack: Stack) -> Iterator[DoneEvents]:
    events = DoneEvents(stack.redis.url)
    yield events
    events.close()


def test_sigkilled_worker_loses_no_job_and_none_ends_twice(
    stack: Stack,
    emulator: EmulatorControl,
    client_a: httpx.Client,
    redis_client: redis.Redis,
    done_events: DoneEvents,
) -> None:
    # 60 calls of 3 s against 3 x 16 worker slots: every worker is busy when one dies.
    slow = directive(latency_ms=3000)
    ids = [submit(client_a, "slow-model", f"slow {i} {slow}") for i in range(60)]
    wait_until(lambda: len(emulator.requests()) >= 45, 20, "slow calls in flight")
    victim = stack.processes["limits1"]
    victim.kill()  # SIGKILL to its whole process group, mid-call
    stack.start_worker("limits1", LIMIT_QUEUES)

    def all_done() -> bool:
        return all(redis_client.hget(f"llmgw:job:{i}", "status") == "succeeded" for i in ids)

    wait_until(all_done, 60, "every job succeeded")
    time.sleep(1)  # let any late duplicate finish try (and fail) to publish
    assert all(done_events.counts[i] == 1 for i in ids), done_events.counts
    recovered = [i for i in ids if redis_client.hget(f"llmgw:job:{i}", "recoveries") == "1"]
    assert recovered, "the killed worker held jobs; they must have been recovered"
    for job_id in ids:
        job = client_a.get(f"/v1/jobs/{job_id}").json()
        index = int(job["request"]["messages"][0]["content"].split()[1])
        assert job["result"]["message"]["content"] == f"echo: slow {index}"
    # Only a recovered job may have reached the provider a second time.
    texts = (r["body"]["messages"][0]["content"] for r in emulator.requests())
    calls = Counter(text for text in texts if text.startswith("slow "))
    assert len(calls) == len(ids)
    assert sum(calls.values()) - len(ids) <= len(recovered)


@pytest.fixture
def standby_worker(stack: Stack) -> Iterator[Stack]:
    yield stack
    process = stack.processes.pop("standby", None)
    if process is not None:
        process.stop()


def test_priority_is_honoured_within_a_queue(
    standby_worker: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    # Nothing consumes llm.standby yet: the backlog builds up, then one slot drains it.
    low = [submit(client_a, "standby-model", f"low {i}", priority=1) for i in range(5)]
    high = [submit(client_a, "standby-model", f"high {i}", priority=9) for i in range(5)]
    standby_worker.start_worker("standby", "llm.standby", concurrency=1)
    wait_until(lambda: len(emulator.requests()) == len(low) + len(high), 30, "backlog served")
    served = [r["body"]["messages"][0]["content"] for r in emulator.requests()]
    assert served == [f"high {i}" for i in range(5)] + [f"low {i}" for i in range(5)]
