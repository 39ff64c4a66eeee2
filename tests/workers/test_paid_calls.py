"""Doing the bad thing to paid calls: a worker SIGKILLed with calls in flight, and Redis
dropped for less than a lease while calls are in flight. The provider (the emulator)
records every call it receives; each job's record must account for exactly those calls.

Both run on a stack of their own (Redis, emulator, API, one worker), so killing Redis
disturbs no other test.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from emulator import EmulatorControl, directive
from tests.support.processes import RedisServer, Stack, free_port, wait_until

KEY = "key-paid-calls-0123456789"
LEASE_SECONDS = 10
IN_FLIGHT = 30
# Long enough for all IN_FLIGHT calls to be in flight at once on a loaded machine.
SLOW_MS = 6000


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("paid-calls")
    server = RedisServer(free_port(), tmp / "redis", tmp / "redis.log").start()
    env = {
        **os.environ,
        "LLM_GATEWAY_REDIS_URL": server.url,
        "LLM_GATEWAY_API_KEYS": f"payer:{KEY}",
        "LLM_GATEWAY_LOG_JSON": "true",
        "LLM_GATEWAY_LOG_LEVEL": "INFO",
        "LLM_GATEWAY_WORKER_HEARTBEAT_SECONDS": "1",
        # Leases renewed every 3.3 s, reaped 15 s after the last renewal.
        "LLM_GATEWAY_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("LLM_GATEWAY_AUTH_DISABLED", None)
    stack = Stack(tmp=tmp, redis=server, env=env)
    try:
        stack.start_emulator()
        stack.start_api()
        stack.start_worker("payer", "llm.openai", concurrency=IN_FLIGHT + 10)
        yield stack
    finally:
        stack.stop()
        server.stop()


@pytest.fixture
def provider(fault_stack: Stack) -> Iterator[EmulatorControl]:
    control = EmulatorControl(fault_stack.emulator_url)
    control.reset()
    yield control
    control.reset()


@pytest.fixture
def client(fault_stack: Stack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=fault_stack.api_url, headers=headers, timeout=30) as c:
        yield c


def submit_slow(
    client: httpx.Client, marker: str, latency_ms: int, count: int = IN_FLIGHT
) -> dict[str, str]:
    """``count`` slow jobs; their ids by the marker their prompt starts with."""
    ids: dict[str, str] = {}
    for i in range(count):
        text = f"{marker}-{i} {directive(latency_ms=latency_ms)}"
        response = client.post(
            "/v1/jobs",
            json={
                "type": "completion",
                "request": {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": text}],
                },
            },
        )
        assert response.status_code == 202, response.text
        ids[f"{marker}-{i}"] = response.json()["id"]
    return ids


def calls_by_marker(provider: EmulatorControl, marker: str) -> Counter[str]:
    """How many times the provider was called for each job, by the job's marker."""
    texts = (r["body"]["messages"][0]["content"] for r in provider.requests())
    return Counter(t.split()[0] for t in texts if t.startswith(f"{marker}-"))


def paid(request: dict[str, Any]) -> dict[str, Any]:
    """What the emulator's reply to ``request`` reported, as ``orphaned_usage`` shows it
    (gpt-4o-mini on the openai instance costs $0.15 / $0.60 per million tokens)."""
    prompt, completion = request["usage"]["prompt_tokens"], request["usage"]["completion_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost_usd": round((prompt * 0.15 + completion * 0.60) / 1e6, 8),
    }


def wait_finished(
    client: httpx.Client, ids: dict[str, str], seconds: float
) -> dict[str, dict[str, Any]]:
    """Every job's record once all are terminal."""
    jobs: dict[str, dict[str, Any]] = {}

    def finished() -> bool:
        for marker, job_id in ids.items():
            if jobs.get(marker, {}).get("status") not in ("succeeded", "failed", "cancelled"):
                jobs[marker] = client.get(f"/v1/jobs/{job_id}").json()
        return all(j.get("status") in ("succeeded", "failed", "cancelled") for j in jobs.values())

    wait_until(finished, seconds, "every job finished")
    return jobs


def usage_totals(stack: Stack) -> tuple[float, float, float]:
    """The cluster-wide counters ``/metrics`` serves for the tenant: (jobs ended, tokens,
    cost in USD)."""
    totals = {"llm_gateway_jobs_total": 0.0, "llm_gateway_tokens_total": 0.0}
    totals["llm_gateway_cost_usd_total"] = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{stack.api_url}/metrics").text):
        for sample in family.samples:
            if sample.labels.get("tenant") == "payer" and sample.name in totals:
                totals[sample.name] += sample.value
    return (
        totals["llm_gateway_jobs_total"],
        totals["llm_gateway_tokens_total"],
        totals["llm_gateway_cost_usd_total"],
    )


def test_a_worker_killed_mid_call_leaves_records_that_count_every_call_made(
    fault_stack: Stack, provider: EmulatorControl, client: httpx.Client
) -> None:
    before = usage_totals(fault_stack)
    ids = submit_slow(client, "killed", latency_ms=SLOW_MS)
    wait_until(lambda: provider.stats()["in_flight"] >= IN_FLIGHT, 60, "calls in flight")
    fault_stack.processes["payer"].kill()  # SIGKILL, mid-call
    fault_stack.start_worker("payer", "llm.openai", concurrency=IN_FLIGHT + 10)

    jobs = wait_finished(client, ids, 120)
    calls = calls_by_marker(provider, "killed")
    assert {j["status"] for j in jobs.values()} == {"succeeded"}
    # The killed calls reached the provider and were paid for; the re-runs too.
    assert set(calls) == set(ids) and set(calls.values()) == {2}, calls
    miscounted = {
        m: (j["attempts"], calls[m]) for m, j in jobs.items() if j["attempts"] != calls[m]
    }
    assert not miscounted, f"{len(miscounted)} records miscount their calls: {miscounted}"
    # Usage counted each re-run job once, and exactly what the records say was paid (the
    # killed calls' replies never reached a worker: nobody knows their usage).
    after = usage_totals(fault_stack)
    tokens = sum(
        (j["usage"] or {}).get("total_tokens", 0)
        + (j["orphaned_usage"] or {}).get("total_tokens", 0)
        for j in jobs.values()
    )
    cost = sum(
        (j["cost_usd"] or 0) + ((j["orphaned_usage"] or {}).get("cost_usd") or 0)
        for j in jobs.values()
    )
    assert after[0] - before[0] == len(ids)
    assert after[1] - before[1] == tokens > 0
    assert abs(after[2] - before[2] - cost) < 1e-8


def test_redis_dropped_for_less_than_a_lease_calls_no_provider_twice(
    fault_stack: Stack, provider: EmulatorControl, client: httpx.Client
) -> None:
    ids = submit_slow(client, "outage", latency_ms=SLOW_MS)
    wait_until(lambda: provider.stats()["in_flight"] >= IN_FLIGHT, 60, "calls in flight")
    worker_log = fault_stack.processes["payer"].output()
    redis_process = fault_stack.redis.process
    assert redis_process is not None and redis_process.proc is not None
    redis_process.kill(signal.SIGKILL)
    went_down = time.monotonic()
    # Every reply lands while Redis is down; then it comes back, within the lease.
    wait_until(lambda: provider.stats()["in_flight"] == 0, LEASE_SECONDS, "every reply")
    fault_stack.redis.start()  # same port and AOF: nothing accepted is lost
    assert time.monotonic() - went_down < LEASE_SECONDS, "the outage was not shorter than a lease"

    jobs = wait_finished(client, ids, 120)
    calls = calls_by_marker(provider, "outage")
    assert {j["status"] for j in jobs.values()} == {"succeeded"}
    duplicates = sum(calls.values()) - len(ids)
    assert set(calls) == set(ids) and duplicates == 0, calls
    assert all(j["attempts"] == 1 for j in jobs.values())
    # The worker rode the outage out: it neither died nor tried to kill its running calls.
    assert fault_stack.processes["payer"].alive()
    new_log = fault_stack.processes["payer"].output()[len(worker_log) :]
    assert "kill_job" not in new_log and "Unrecoverable error" not in new_log


def test_a_reply_landing_after_a_cancel_is_recorded_as_paid_for(
    fault_stack: Stack, provider: EmulatorControl, client: httpx.Client
) -> None:
    (job_id,) = submit_slow(client, "cancelled", latency_ms=2000, count=1).values()
    wait_until(lambda: provider.stats()["in_flight"] == 1, 30, "the call in flight")
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200

    # The call carries on (it is paid for); its reply is not the job's result, but its
    # usage is on the record.
    wait_until(lambda: client.get(f"/v1/jobs/{job_id}").json()["orphaned_usage"], 30, "usage")
    job = client.get(f"/v1/jobs/{job_id}").json()
    (request,) = provider.requests()
    assert (job["status"], job["result"], job["usage"]) == ("cancelled", None, None)
    assert job["attempts"] == 1
    assert job["orphaned_usage"] == paid(request)


def test_a_reply_landing_after_its_worker_lost_the_lease_is_recorded_as_paid_for(
    fault_stack: Stack, provider: EmulatorControl, client: httpx.Client
) -> None:
    (job_id,) = submit_slow(client, "stalled", latency_ms=2000, count=1).values()
    wait_until(lambda: provider.stats()["in_flight"] == 1, 30, "the call in flight")
    stalled = fault_stack.processes["payer"]
    assert stalled.proc is not None
    # Frozen mid-call: it stops renewing the lease; a second worker reaps and re-runs the job.
    os.killpg(stalled.proc.pid, signal.SIGSTOP)
    try:
        fault_stack.start_worker("rescuer", "llm.openai")
        (done,) = wait_finished(client, {"stalled": job_id}, 60).values()
        assert done["status"] == "succeeded" and done["orphaned_usage"] is None
    finally:
        os.killpg(stalled.proc.pid, signal.SIGCONT)
        rescuer = fault_stack.processes.pop("rescuer", None)
    # The frozen worker gets the first call's reply: too late for the job, but paid for.
    wait_until(lambda: client.get(f"/v1/jobs/{job_id}").json()["orphaned_usage"], 30, "usage")
    if rescuer is not None:
        rescuer.stop()
    job = client.get(f"/v1/jobs/{job_id}").json()
    first, second = provider.requests()
    assert job["status"] == "succeeded" and job["attempts"] == 2
    used = paid(second)
    assert job["usage"] == {
        k: used[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")
    }
    assert job["cost_usd"] == used["cost_usd"]
    assert job["orphaned_usage"] == paid(first)
