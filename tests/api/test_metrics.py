"""The API's /metrics through the real stack: cluster-wide gauges read from Redis (backlog
including jobs waiting for capacity, in-flight calls, circuit state, live workers, dead
letters), the token that can protect it, and a worker's own metrics port."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from emulator import EmulatorControl, directive
from gateway.queues import MAX_PRIORITY, queue_key
from tests.support.processes import Stack, free_port, wait_until

METRICS_TOKEN = "metrics-token-7f6e5d4c3b2a"


def scrape(url: str, headers: dict[str, str] | None = None) -> dict[tuple[str, str], float]:
    """Sample (name, sorted labels) → value of one scrape."""
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    samples: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[(sample.name, labels)] = sample.value
    return samples


def submit(client: httpx.Client, model: str, content: str = "hello") -> str:
    request = {"model": model, "messages": [{"role": "user", "content": content}]}
    response = client.post("/v1/jobs", json={"type": "completion", "request": request})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_done(client: httpx.Client, job_id: str) -> dict[str, object]:
    response = client.get(f"/v1/jobs/{job_id}/wait", params={"timeout": 60})
    assert response.status_code == 200, response.text
    job: dict[str, object] = response.json()
    return job


def listed(redis_client: redis.Redis, queue: str) -> int:
    """What a list-length autoscaler sees: the queue's priority lists together."""
    return sum(int(redis_client.llen(queue_key(queue, p))) for p in range(MAX_PRIORITY + 1))


def test_jobs_waiting_for_capacity_count_in_the_backlog_though_their_list_is_short(
    stack: Stack,
    client_a: httpx.Client,
    emulator: EmulatorControl,
    redis_client: redis.Redis,
) -> None:
    # single-file runs one call at a time: while the first takes 4 s, the others are
    # handed back to wait for capacity (deferred), off their queue's list.
    blocker = submit(client_a, "single-file-model", directive(latency_ms=4000))
    wait_until(
        lambda: client_a.get(f"/v1/jobs/{blocker}").json()["status"] == "running", 30, "blocker"
    )
    waiting = [submit(client_a, "single-file-model", f"after {i}") for i in range(4)]
    seen: list[tuple[float, float, float, int]] = []

    def backlog_beyond_the_lists() -> bool:
        samples = scrape(stack.api_url)
        figures = (
            samples[("llm_gateway_backlog", "instance=single-file")],
            samples[("llm_gateway_in_flight", "instance=single-file")],
            samples[("llm_gateway_waiting_for_capacity", "instance=single-file")],
            listed(redis_client, "llm.single-file"),
        )
        seen.append(figures)
        backlog, in_flight, waiting_now, on_lists = figures
        return backlog == 4 and in_flight == 1 and waiting_now >= 1 and on_lists < backlog

    wait_until(backlog_beyond_the_lists, 20, f"the backlog to show the waiting jobs: {seen}")
    for job_id in [blocker, *waiting]:
        assert wait_done(client_a, job_id)["status"] == "succeeded"
    wait_until(
        lambda: scrape(stack.api_url)[("llm_gateway_backlog", "instance=single-file")] == 0,
        20,
        "the backlog to drain",
    )


def test_queued_jobs_nobody_consumes_count_and_workers_per_queue_show(
    stack: Stack, client_a: httpx.Client, redis_client: redis.Redis
) -> None:
    before = scrape(stack.api_url)
    # Served by no worker in the test stack: the jobs stay on the queue's lists.
    for i in range(2):
        submit(client_a, "standby-model", f"parked {i}")
    redis_client.zadd("llmgw:webhooks:dead", {"job:dead-1": 1, "job:dead-2": 2})
    after = scrape(stack.api_url)
    backlog = ("llm_gateway_backlog", "instance=standby")
    assert after[backlog] == before[backlog] + 2
    assert after[("llm_gateway_workers_alive", "queue=llm.standby")] == 0
    assert after[("llm_gateway_workers_alive", "queue=llm.openai")] >= 1
    assert after[("llm_gateway_workers_alive", "queue=llm.single-file")] == 3
    assert after[("llm_gateway_webhook_dead_letters", "")] == 2


def test_circuit_state_shows_open_after_repeated_failures(
    stack: Stack, client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    circuit = ("llm_gateway_circuit_state", "instance=fragile")
    assert scrape(stack.api_url)[circuit] == 0
    emulator.script(*[{"status": 500}] * 3)
    assert wait_done(client_a, submit(client_a, "fragile-model"))["status"] == "failed"
    # Open (2) for its 2 s reset time, then half-open (1) until a call probes it.
    assert scrape(stack.api_url)[circuit] in (1, 2)


@pytest.fixture(scope="module")
def protected_api(stack: Stack) -> Iterator[str]:
    name = "api-metrics-token"
    yield stack.start_extra_api(name, {"LLM_GATEWAY_METRICS_TOKEN": METRICS_TOKEN})
    stack.stop_process(name)


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong-token"}, {"authorization": f"Basic {METRICS_TOKEN}"}],
    ids=["no token", "wrong token", "not a bearer"],
)
def test_a_protected_metrics_endpoint_refuses_without_its_token(
    protected_api: str, headers: dict[str, str]
) -> None:
    response = httpx.get(f"{protected_api}/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert "llm_gateway" not in response.text.replace("llm_gateway_", "")


def test_a_protected_metrics_endpoint_answers_with_its_token(protected_api: str) -> None:
    samples = scrape(protected_api, {"authorization": f"Bearer {METRICS_TOKEN}"})
    assert ("llm_gateway_backlog", "instance=openai") in samples


def test_the_open_metrics_endpoint_needs_no_token(stack: Stack) -> None:
    assert ("llm_gateway_backlog", "instance=openai") in scrape(stack.api_url)


@pytest.fixture
def metered_worker(stack: Stack) -> Iterator[str]:
    """A worker on the standby queue serving its metrics on a port of its own."""
    port = free_port()
    stack.start_worker(
        "metered", "llm.standby", concurrency=2,
        extra_env={"LLM_GATEWAY_WORKER_METRICS_PORT": str(port)},
    )  # fmt: skip
    yield f"http://127.0.0.1:{port}"
    process = stack.processes.pop("metered", None)
    if process is not None:
        process.stop()


def test_a_worker_serves_provider_call_metrics_on_its_port(
    metered_worker: str, client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    assert ("llm_gateway_provider_call_seconds_count", "") not in scrape(metered_worker)
    job_id = submit(client_a, "standby-model")
    assert wait_done(client_a, job_id)["status"] == "succeeded"
    samples = scrape(metered_worker)
    labels = "instance=standby,model=standby-model,outcome=ok"
    assert samples[("llm_gateway_provider_call_seconds_count", labels)] >= 1
    assert samples[("llm_gateway_limiter_wait_seconds_count", "instance=standby")] >= 1
    # The job id never becomes a label.
    assert job_id not in httpx.get(f"{metered_worker}/metrics").text


def test_a_worker_counts_provider_errors_retries_and_time_to_first_token(
    metered_worker: str, client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    emulator.script({"status": 500})  # the first call fails; the retry succeeds
    assert wait_done(client_a, submit(client_a, "standby-model"))["status"] == "succeeded"
    request = {
        "model": "standby-model",
        "messages": [{"role": "user", "content": "stream it"}],
        "stream": True,
    }
    response = client_a.post("/v1/jobs", json={"type": "completion", "request": request})
    assert response.status_code == 202, response.text
    assert wait_done(client_a, str(response.json()["id"]))["status"] == "succeeded"

    samples = scrape(metered_worker)
    errors = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "llm_gateway_provider_errors_total" and "instance=standby" in labels
    }
    assert sum(errors.values()) == 1, errors
    assert samples[("llm_gateway_provider_retries_total", "instance=standby")] == 1
    failed = "instance=standby,model=standby-model,outcome=error"
    assert samples[("llm_gateway_provider_call_seconds_count", failed)] == 1
    ok = "instance=standby,model=standby-model,outcome=ok"
    assert samples[("llm_gateway_provider_call_seconds_count", ok)] == 2
    ttft = ("llm_gateway_time_to_first_token_seconds_count", "instance=standby,model=standby-model")
    assert samples[ttft] == 1


@pytest.fixture(scope="module")
def two_process_api(stack: Stack) -> Iterator[str]:
    """``llm-gateway api --workers 2``: two uvicorn processes behind one port."""
    port = free_port()
    name = "api-two-processes"
    stack.spawn(name, [sys.executable, "-m", "cli", "api", "--port", str(port), "--workers", "2"])
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(f"{url}/health"), 60, name)
    yield url
    stack.stop_process(name)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_several_api_processes_report_their_requests_together(two_process_api: str) -> None:
    health = ("llm_gateway_http_requests_total", "method=GET,route=/health,status=200")
    before = scrape(two_process_api).get(health, 0)
    for _ in range(40):  # a connection each: the kernel spreads them over both processes
        assert httpx.get(f"{two_process_api}/health").status_code == 200
    # Whichever process answers a scrape, it counts every process's requests.
    counts = [scrape(two_process_api).get(health, 0) for _ in range(8)]
    assert all(count >= before + 40 for count in counts), (before, counts)
    assert ("llm_gateway_backlog", "instance=openai") in scrape(two_process_api)
