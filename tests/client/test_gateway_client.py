"""``GatewayClient``'s jobs and chat calls against the real stack (API, Redis, workers,
emulator), and how the gateway's errors reach the caller."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

import client as client_package
from client import GatewayClient, GatewayClientError, GatewayUnreachable, Job
from client import gateway_client as gateway_client_module
from emulator import EmulatorControl, directive
from tests.conftest import KEY_A
from tests.support.processes import Stack, free_port


def request(text: str = "hello", model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


@pytest.fixture
def gateway(stack: Stack, emulator: EmulatorControl) -> Iterator[GatewayClient]:
    with GatewayClient(stack.api_url, KEY_A) as client:
        yield client


def test_public_names_are_importable_from_the_package() -> None:
    for name in client_package.__all__:
        assert getattr(client_package, name) is not None, name


def test_submit_then_wait_returns_the_succeeded_job(gateway: GatewayClient) -> None:
    job = gateway.submit("completion", request("typed"), priority=7, metadata={"team": "docs"})
    assert isinstance(job, Job)
    assert job.status == "queued" and job.id.startswith("job_")
    assert (job.priority, job.metadata) == (7, {"team": "docs"})
    done = gateway.wait(job.id, timeout=20)
    assert done.status == "succeeded" and done.terminal
    assert done.result is not None and done.result["message"]["content"] == "echo: typed"
    assert done.provider == "openai"
    assert isinstance(done.finished_at, datetime)
    assert done.usage is not None and done.usage["total_tokens"] > 0


def test_submit_with_the_cache_gets_a_hit_already_succeeded(gateway: GatewayClient) -> None:
    body = request(f"cached {time.time_ns()}")
    computed = gateway.wait(gateway.submit("completion", body, cache="use", cache_ttl=60).id, 20)
    assert computed.cache == {"hit": False, "ttl_seconds": 60, "age_seconds": None}
    hit = gateway.submit("completion", body, cache="use")
    assert hit.status == "succeeded" and hit.terminal
    assert hit.cache is not None and hit.cache["hit"] is True
    assert hit.cost_usd == 0 and hit.result == computed.result
    with pytest.raises(GatewayClientError) as refused:
        gateway.submit("completion", body, cache="sometimes")
    assert refused.value.status_code == 400 and refused.value.param == "x-llm-gateway-cache"


def test_get_reads_the_same_record(gateway: GatewayClient) -> None:
    job = gateway.submit("completion", request())
    gateway.wait(job.id, timeout=20)
    fetched = gateway.get(job.id)
    assert fetched.id == job.id and fetched.status == "succeeded"
    assert fetched.request == request()


def test_same_idempotency_key_returns_the_first_job(gateway: GatewayClient) -> None:
    first = gateway.submit("completion", request(), idempotency_key="client-42")
    second = gateway.submit("completion", request(), idempotency_key="client-42")
    assert second.id == first.id


def test_wait_returns_the_running_record_when_the_timeout_passes(
    gateway: GatewayClient,
) -> None:
    job = gateway.submit("completion", request(directive(latency_ms=3000)))
    started = time.monotonic()
    waited = gateway.wait(job.id, timeout=0.5)
    assert time.monotonic() - started > 0.4
    # Still running (the job takes 3 s): the wait ended at its timeout, not the job's end.
    assert waited.status in ("queued", "running") and not waited.terminal


def test_wait_keeps_waiting_across_server_slices(
    gateway: GatewayClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Short slices: the server answers 202 several times before the job ends.
    monkeypatch.setattr(gateway_client_module, "WAIT_SLICE_SECONDS", 0.2)
    job = gateway.submit("completion", request(directive(latency_ms=1200)))
    assert gateway.wait(job.id, timeout=20).status == "succeeded"


def test_cancel_returns_the_cancelled_job(gateway: GatewayClient) -> None:
    job = gateway.submit("completion", request(directive(latency_ms=2000)))
    cancelled = gateway.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.result is None


def test_cancel_of_a_finished_job_raises_conflict(gateway: GatewayClient) -> None:
    job = gateway.submit("completion", request())
    gateway.wait(job.id, timeout=20)
    with pytest.raises(GatewayClientError) as caught:
        gateway.cancel(job.id)
    assert (caught.value.status_code, caught.value.type) == (409, "conflict")


def test_jobs_follows_the_cursor_newest_first(gateway: GatewayClient) -> None:
    ids = [gateway.submit("completion", request(f"n{i}")).id for i in range(5)]
    assert [job.id for job in gateway.jobs(limit=2)] == ids[::-1]


def test_jobs_filters_by_status(gateway: GatewayClient) -> None:
    done = gateway.submit("completion", request())
    gateway.wait(done.id, timeout=20)
    slow = gateway.submit("completion", request(directive(latency_ms=2000)))
    gateway.cancel(slow.id)
    assert [job.id for job in gateway.jobs(status="cancelled")] == [slow.id]
    assert [job.id for job in gateway.jobs(status="succeeded")] == [done.id]


def test_jobs_are_summaries_unless_expanded(gateway: GatewayClient) -> None:
    job = gateway.submit("completion", request("summarised"))
    gateway.wait(job.id, timeout=20)
    [summary] = gateway.jobs()
    assert (summary.id, summary.status, summary.request, summary.result) == (
        job.id,
        "succeeded",
        None,
        None,
    )
    [expanded] = gateway.jobs(expand=["request", "result"])
    assert expanded.request is not None and expanded.result is not None
    assert expanded.request["messages"][0]["content"] == "summarised"
    assert expanded.result["message"]["content"] == "echo: summarised"


def test_chat_returns_the_openai_shaped_completion(gateway: GatewayClient) -> None:
    answer = gateway.chat("gpt-4o-mini", [{"role": "user", "content": "hi"}], max_tokens=50)
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == "echo: hi"


def test_embeddings_return_the_openai_shaped_list(gateway: GatewayClient) -> None:
    answer = gateway.embeddings("nomic-embed-text", ["a", "b"], dimensions=4)
    assert answer["object"] == "list"
    assert [len(item["embedding"]) for item in answer["data"]] == [4, 4]
    assert gateway.model("nomic-embed-text")["kind"] == "embedding"
    with pytest.raises(GatewayClientError) as caught:
        gateway.embeddings("nomic-embed-text", [])
    assert (caught.value.status_code, caught.value.param) == (400, "input")
    with pytest.raises(GatewayClientError) as unknown:
        gateway.model("ibm/no-such-model:1")
    assert (unknown.value.status_code, unknown.value.type) == (404, "not_found")


def test_unknown_model_raises_model_not_found(gateway: GatewayClient) -> None:
    with pytest.raises(GatewayClientError) as caught:
        gateway.submit("completion", request(model="no-such-model"))
    assert (caught.value.status_code, caught.value.type) == (400, "model_not_found")
    assert "no-such-model" in caught.value.message
    with pytest.raises(GatewayClientError) as chat_caught:
        gateway.chat("no-such-model", [{"role": "user", "content": "hi"}])
    assert chat_caught.value.type == "model_not_found"


def test_invalid_body_raises_with_the_offending_param(gateway: GatewayClient) -> None:
    with pytest.raises(GatewayClientError) as caught:
        gateway.submit("completion", request(), priority=42)
    assert caught.value.status_code == 422
    assert caught.value.param == "priority"


def test_bad_key_raises_authentication_error(stack: Stack) -> None:
    with (
        GatewayClient(stack.api_url, "not-a-key") as client,
        pytest.raises(GatewayClientError) as caught,
    ):
        client.get("job_0123")
    assert (caught.value.status_code, caught.value.type) == (401, "authentication_error")
    assert "not-a-key" not in str(caught.value)


def test_unknown_job_raises_not_found(gateway: GatewayClient) -> None:
    for call in (gateway.get, gateway.cancel, gateway.wait):
        with pytest.raises(GatewayClientError) as caught:
            call("job_0000000000000000")
        assert (caught.value.status_code, caught.value.type) == (404, "not_found")


def test_unreachable_gateway_raises_gateway_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with GatewayClient(url, KEY_A) as client, pytest.raises(GatewayUnreachable) as caught:
        client.get("job_0123")
    assert isinstance(caught.value, GatewayClientError)
    assert caught.value.status_code is None and caught.value.type == "unreachable"
    assert url in caught.value.message


def test_answer_slower_than_the_timeout_raises_timeout(
    stack: Stack, emulator: EmulatorControl
) -> None:
    with (
        GatewayClient(stack.api_url, KEY_A, timeout=0.5) as client,
        pytest.raises(GatewayClientError) as caught,
    ):
        client.chat("gpt-4o-mini", [{"role": "user", "content": directive(latency_ms=3000)}])
    assert not isinstance(caught.value, GatewayUnreachable)
    assert (caught.value.status_code, caught.value.type) == (None, "timeout")


def test_requests_go_through_the_given_transport_with_the_key() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "job_1", "type": "tool", "status": "queued"})

    transport = httpx.MockTransport(answer)
    with GatewayClient("http://gateway.test/", "k-123", transport=transport) as client:
        assert client.get("job_1").status == "queued"
    assert str(seen[0].url) == "http://gateway.test/v1/jobs/job_1"
    assert seen[0].headers["authorization"] == "Bearer k-123"
