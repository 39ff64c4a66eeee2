"""An instance whose credentials cannot be found: each worker disables it with one log
line (no crash, no secret), stops consuming its queue, and the API routes around it."""

from __future__ import annotations

import json
import time

import httpx

from emulator import EmulatorControl
from tests.support.processes import Stack, wait_until
from tests.workers.test_provider_failures import finished, provider_view, submit

LIMIT_WORKERS = ("limits1", "limits2", "limits3")


def test_a_worker_disables_an_instance_without_credentials_with_one_log_line(
    stack: Stack, client_a: httpx.Client
) -> None:
    for name in LIMIT_WORKERS:
        log = stack.processes[name].output().splitlines()
        lines = [json.loads(line) for line in log if "provider_instance_disabled" in line]
        # One line per start of the worker (other tests restart workers into the same log).
        starts = sum('"worker_started"' in line for line in log)
        assert starts >= 1 and len(lines) == starts, f"{name}: {lines}"
        assert {line["instance"] for line in lines} == {"keyless"}
        assert "LLM_GATEWAY_TEST_UNSET_KEY" in lines[0]["reason"]
        assert stack.processes[name].alive()
    wait_until(lambda: provider_view(client_a, "keyless")["disabled"], 10, "disabled state")
    view = provider_view(client_a, "keyless")
    assert "LLM_GATEWAY_TEST_UNSET_KEY" in view["disabled"]
    assert view["workers"] == 0  # nobody consumes llm.keyless
    assert provider_view(client_a, "keyed")["disabled"] is None


def test_a_model_served_elsewhere_routes_around_the_disabled_instance(
    emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    wait_until(lambda: provider_view(client_a, "keyless")["disabled"], 10, "disabled state")
    jobs = [submit(client_a, "shared-model", f"n{i}") for i in range(5)]
    assert {finished(client_a, job)["provider"] for job in jobs} == {"keyed"}
    models = client_a.get("/v1/models").json()["data"]
    shared = next(m for m in models if m["id"] == "shared-model")
    assert shared["instances"] == ["keyless", "keyed"]
    assert shared["available"] == ["keyed"]


def test_pinning_a_disabled_instance_is_503(client_a: httpx.Client) -> None:
    wait_until(lambda: provider_view(client_a, "keyless")["disabled"], 10, "disabled state")
    request = {
        "model": "shared-model",
        "provider": "keyless",
        "messages": [{"role": "user", "content": "hi"}],
    }
    response = client_a.post("/v1/chat/completions", json=request)
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "service_unavailable"
    assert "disabled" in response.json()["error"]["message"]


def test_a_failing_job_never_falls_back_into_the_disabled_instances_queue(
    emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    wait_until(lambda: provider_view(client_a, "keyless")["disabled"], 10, "disabled state")
    emulator.script({"status": 429, "retry_after": 1})
    job = finished(client_a, submit(client_a, "shared-model"))
    # "keyless" serves the model too, but nobody consumes its queue: the job stays on
    # "keyed", waits out the cooldown and succeeds there.
    assert (job["status"], job["provider"]) == ("succeeded", "keyed")
    assert provider_view(client_a, "keyless")["queue_depth"] == 0


def test_readiness_names_the_disabled_instances_without_reasons(stack: Stack) -> None:
    def disabled() -> list[str]:
        names: list[str] = httpx.get(f"{stack.api_url}/health/ready").json()["disabled_instances"]
        return names

    wait_until(lambda: disabled() == ["keyless"], 10, "disabled in readiness")
    assert "LLM_GATEWAY_TEST_UNSET_KEY" not in httpx.get(f"{stack.api_url}/health/ready").text


def test_a_worker_whose_only_queue_is_disabled_stays_up_and_consumes_nothing(
    stack: Stack, client_a: httpx.Client
) -> None:
    process = stack.start_worker("keyless-only", "llm.keyless", concurrency=2)
    try:
        time.sleep(2)  # a few heartbeats: a crash-looping worker would be gone by now
        assert process.alive()
        started = [
            json.loads(line) for line in process.output().splitlines() if '"worker_started"' in line
        ]
        assert started[-1]["queues"] == [] and started[-1]["disabled"] == ["llm.keyless"]
        assert provider_view(client_a, "keyless")["workers"] == 0
    finally:
        process.stop()
        stack.processes.pop("keyless-only", None)
