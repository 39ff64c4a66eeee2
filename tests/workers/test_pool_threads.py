"""A worker started with more pool threads than ``LLM_GATEWAY_WORKER_CONCURRENCY`` says
(``llm-gateway worker --concurrency``, as ``up`` and the benches start them) runs each job
once: its Redis connections are sized for the threads it really runs.

Before, the pool was sized from the setting alone; with more threads than connections a
job's thread hit redis-py's "Too many connections" mid-stream, gave its run up with the
lease still set, and the job was run again when the lease lapsed: a second provider call,
and a ``stream_restarted`` on the client's stream (docs/benchmarks.md, "Streaming")."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import redis

from emulator import EmulatorControl, directive
from tests.conftest import KEY_A
from tests.support.processes import Stack

# Far more threads than a pool sized from the settings (1 + 1 tool thread + 4
# connections) could serve at once.
THREADS = 32
WORDS = 12


@pytest.fixture
def crowded_worker(stack: Stack) -> Iterator[None]:
    """The only worker of ``llm.standby``: ``THREADS`` threads, the setting says 1."""
    stack.start_worker(
        "crowded",
        "llm.standby",
        concurrency=THREADS,
        extra_env={"LLM_GATEWAY_WORKER_CONCURRENCY": "1", "LLM_GATEWAY_TOOL_MAX_PARALLEL": "1"},
    )
    try:
        yield
    finally:
        stack.stop_process("crowded")


def _reply(i: int) -> str:
    return " ".join(f"j{i}w{n}" for n in range(WORDS))


def _stream(api_url: str, i: int, out: dict[int, tuple[str | None, str, list[str]]]) -> None:
    """One streamed chat completion: (job id, text, in-stream error types)."""
    script = directive(reply=_reply(i), latency_ms=300, token_interval_ms=100)
    body = {
        "model": "standby-model",
        "messages": [{"role": "user", "content": f"j{i} {script}"}],
        "stream": True,
    }
    text, errors = "", []
    headers = {"authorization": f"Bearer {KEY_A}"}
    with (
        httpx.Client(base_url=api_url, headers=headers, timeout=120) as client,
        client.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        job_id = response.headers.get("x-llm-gateway-job-id")
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                errors.append(str(chunk["error"].get("type")))
                continue
            for choice in chunk.get("choices") or []:
                text += choice.get("delta", {}).get("content") or ""
    out[i] = (job_id, text, errors)


def test_more_threads_than_the_setting_says_run_every_streamed_job_once(
    stack: Stack,
    emulator: EmulatorControl,
    redis_client: redis.Redis,
    crowded_worker: None,
) -> None:
    results: dict[int, tuple[str | None, str, list[str]]] = {}
    threads = [
        threading.Thread(target=_stream, args=(stack.api_url, i, results)) for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)

    assert sorted(results) == list(range(THREADS))
    # No stream restarted (nor failed): each is its own answer, whole.
    assert {i: (r[1], r[2]) for i, r in results.items()} == {
        i: (_reply(i), []) for i in range(THREADS)
    }
    # Each job called its provider once, and its record says one attempt and no lost run.
    calls = Counter(
        next(f"j{i}" for i in range(THREADS) if f"j{i} " in json.dumps(r["body"]))
        for r in emulator.requests()
    )
    assert calls == Counter({f"j{i}": 1 for i in range(THREADS)})
    for job_id, _, _ in results.values():
        assert job_id is not None
        attempts, recoveries, status = redis_client.hmget(
            f"llmgw:job:{job_id}", "attempts", "recoveries", "status"
        )
        assert (attempts, recoveries or "0", status) == ("1", "0", "succeeded"), job_id
