"""Provider failures through the real stack: 429 with retry-after cools the instance down
for every worker, 5xx and malformed replies retry then fail clearly, fallbacks take over,
and the circuit opens and closes."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import redis

from emulator import EmulatorControl, directive
from tests.support.processes import wait_until


def submit(client: httpx.Client, model: str, text: str = "hello") -> str:
    request = {"model": model, "messages": [{"role": "user", "content": text}]}
    response = client.post("/v1/jobs", json={"type": "completion", "request": request})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def finished(client: httpx.Client, job_id: str, seconds: float = 30) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}/wait", params={"timeout": seconds})
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def provider_view(client: httpx.Client, name: str) -> dict[str, Any]:
    response = client.get("/v1/providers")
    assert response.status_code == 200
    view: dict[str, Any] = next(p for p in response.json()["data"] if p["name"] == name)
    return view


def test_429_retry_after_is_respected_by_every_worker(
    emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    emulator.script({"status": 429, "retry_after": 2})
    first = submit(client_a, "cooling-model", "first")
    wait_until(lambda: len(emulator.requests()) == 1, 10, "the 429")
    second = submit(client_a, "cooling-model", "second")  # another job, maybe another worker
    assert finished(client_a, first)["status"] == "succeeded"
    assert finished(client_a, second)["status"] == "succeeded"
    limited, *later = emulator.requests()
    assert limited["status"] == 429 and len(later) == 2
    assert min(r["t"] for r in later) >= limited["t"] + 2.0


def test_429_cooldown_shows_on_the_providers_view(
    emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    emulator.script({"status": 429, "retry_after": 3})
    job_id = submit(client_a, "cooling-model")
    wait_until(lambda: len(emulator.requests()) == 1, 10, "the 429")
    wait_until(lambda: provider_view(client_a, "cooling")["cooldown_seconds"] > 1, 5, "cooldown")
    assert finished(client_a, job_id)["status"] == "succeeded"


def test_5xx_is_retried_then_fails_after_max_attempts_with_a_clear_error(
    emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    emulator.script(*[{"status": 503, "error": "upstream overloaded"}] * 3)
    job = finished(client_a, submit(client_a, "unstable-model"))
    assert job["status"] == "failed" and job["attempts"] == 3
    assert job["error"]["type"] == "provider_unavailable"
    assert "gave up after 3 attempts" in job["error"]["message"]
    assert [r["status"] for r in emulator.requests()] == [503, 503, 503]


def test_a_provider_that_always_answers_malformed_fails_after_the_retry_budget(
    emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    # In the text, not scripted: every attempt gets the same broken 200.
    text = "hello " + directive(malformed="wrong_content_type")
    job = finished(client_a, submit(client_a, "unstable-model", text))
    assert job["status"] == "failed"
    assert job["error"]["type"] == "provider_unavailable"
    assert (
        "the provider sent a malformed reply: content type 'text/html'" in job["error"]["message"]
    )
    assert "gave up after 3 attempts" in job["error"]["message"]
    assert "Service unavailable" not in job["error"]["message"]  # the body is never shown
    calls = emulator.requests()
    assert job["attempts"] == len(calls) == 3
    assert [r["status"] for r in calls] == [200, 200, 200]


def test_caller_error_from_provider_fails_at_once_with_its_message(
    emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    emulator.script({"status": 400, "error": "max_tokens is too large"})
    job = finished(client_a, submit(client_a, "unstable-model"))
    assert job["status"] == "failed" and job["attempts"] == 1
    assert job["error"]["type"] == "provider_rejected"
    assert "max_tokens is too large" in job["error"]["message"]
    assert len(emulator.requests()) == 1


def test_fallback_instance_serves_the_job_when_the_primary_fails(
    emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    emulator.script({"status": 503})
    job = finished(client_a, submit(client_a, "fallback-model", "rescue me"))
    assert job["status"] == "succeeded" and job["provider"] == "secondary"
    assert job["result"]["provider"] == "secondary" and job["attempts"] == 2
    assert job["result"]["message"]["content"] == "echo: rescue me"
    assert [r["status"] for r in emulator.requests()] == [503, 200]


def test_a_fallback_no_worker_serves_is_skipped_so_a_sync_call_fails_promptly(
    emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    # "stranded" falls back to "standby", whose queue no worker consumes: moving the job
    # there would hold the caller until a worker appeared (or the 600 s sync timeout).
    emulator.script(*[{"status": 503}] * 3)
    body = {"model": "stranded-model", "messages": [{"role": "user", "content": "hi"}]}
    response = client_a.post("/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 502, response.text
    assert response.json()["error"]["type"] == "provider_unavailable"
    job = client_a.get(f"/v1/jobs/{response.headers['x-llm-gateway-job-id']}").json()
    assert (job["status"], job["provider"], job["attempts"]) == ("failed", "stranded", 3)
    assert [r["status"] for r in emulator.requests()] == [503, 503, 503]


def test_submission_routes_to_an_instance_a_worker_serves(client_a: httpx.Client) -> None:
    # "standby" comes first for staffed-model, but nothing consumes its queue.
    job = finished(client_a, submit(client_a, "staffed-model"))
    assert (job["status"], job["provider"]) == ("succeeded", "staffed")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_sync_call_that_no_worker_can_serve_is_refused_at_once(
    client_a: httpx.Client, stream: bool
) -> None:
    messages = [{"role": "user", "content": "hi"}]
    body = {"model": "standby-model", "messages": messages, "stream": stream}
    response = client_a.post("/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["type"] == "service_unavailable"
    assert "no worker is serving provider instance 'standby' (queue llm.standby)" in str(
        error["message"]
    )
    assert client_a.get("/v1/jobs").json()["data"] == []  # nothing was queued


def test_circuit_opens_after_repeated_failures_and_closes_after_a_good_probe(
    emulator: EmulatorControl, client_a: httpx.Client, redis_client: redis.Redis
) -> None:
    emulator.script(*[{"status": 500}] * 3)
    failed = finished(client_a, submit(client_a, "fragile-model", "a"))
    assert failed["status"] == "failed"
    view = provider_view(client_a, "fragile")
    assert view["circuit"]["state"] == "open" and view["circuit"]["consecutive_failures"] >= 3
    opened = emulator.requests()[-1]["t"]  # the third failure opened it

    probe = submit(client_a, "fragile-model", "b")
    time.sleep(1)
    assert len(emulator.requests()) == 3  # open: nothing reaches the provider
    job = finished(client_a, probe)
    assert job["status"] == "succeeded"
    assert emulator.requests()[-1]["t"] >= opened + 2.0  # reset_seconds: 2
    assert provider_view(client_a, "fragile")["circuit"]["state"] == "closed"


def test_providers_view_reports_limits_usage_and_queue(
    emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    assert finished(client_a, submit(client_a, "limited-rpm-model"))["status"] == "succeeded"
    view = provider_view(client_a, "limited-rpm")
    assert view["limits"] == {"rpm": 60, "tpm": None, "max_concurrency": None}
    assert view["usage"]["requests_last_minute"] == 1
    assert view["queue"] == "llm.limited-rpm" and view["queue_depth"] == 0
    assert view["workers"] == 3 and view["in_flight"] == 0
    assert view["circuit"]["state"] == "closed"


def test_providers_view_needs_authentication(client_a: httpx.Client) -> None:
    response = httpx.get(f"{client_a.base_url}/v1/providers")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
