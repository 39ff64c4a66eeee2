"""One job's trace through the real processes: the API over HTTP, the task message through
Redis, a real Celery worker, the provider call to the emulator. Each process exports over
OTLP/HTTP, as to a collector, to a receiver in this test (``tests.support.otlp_receiver``).

A stack of its own (own Redis, API and worker): the traced processes must not share a
queue with the session's untraced workers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from emulator import directive
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.processes import RedisServer, Stack, free_port, wait_until

KEY = "key-traced-tenant-0123456789"
SECRET = "sk-test-openai-TRACED-SECRET-99aa"
# In the prompt only: it must appear on no span.
PROMPT_MARKER = "purple-elephant-4471"


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    running = OtlpReceiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def traced_stack(
    tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("traced")
    redis_server = RedisServer(free_port(), tmp / "redis", tmp / "redis.log").start()
    env = {
        **os.environ,
        "LLM_GATEWAY_REDIS_URL": redis_server.url,
        "LLM_GATEWAY_API_KEYS": f"tenant_t:{KEY}",
        "LLM_GATEWAY_LOG_LEVEL": "WARNING",
        "OPENAI_API_KEY": SECRET,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        # The SDK's default sampler, as a deployment would run it.
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        # Exported within a fraction of a second, not the default 5 s.
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("LLM_GATEWAY_AUTH_DISABLED", "OTEL_SERVICE_NAME", "OTEL_SDK_DISABLED"):
        env.pop(name, None)
    stack = Stack(tmp=tmp, redis=redis_server, env=env)
    try:
        stack.start_emulator()
        stack.start_api()
        stack.start_worker("openai", "llm.openai", concurrency=2)
        yield stack
    finally:
        stack.stop()
        redis_server.stop()


def _trace_of(receiver: OtlpReceiver, job_id: str) -> list[ReceivedSpan]:
    """Every span of the trace the job's provider call belongs to, once the spans that end
    last in each process (the server span, the worker's task span) have arrived too."""
    provider = [
        s
        for s in receiver.spans
        if s.attributes.get("llm_gateway.job_id") == job_id and s.kind == "client"
    ]
    if not provider:
        return []
    trace = [s for s in receiver.spans if s.trace_id == provider[0].trace_id]
    kinds = {s.kind for s in trace}
    return trace if {"server", "producer", "consumer"} <= kinds else []


def _one(spans: list[ReceivedSpan], what: str, **match: str) -> ReceivedSpan:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, (what, [(s.service, s.kind, s.name) for s in spans])
    return found[0]


def test_one_trace_runs_from_the_http_request_through_the_queue_to_the_provider_call(
    traced_stack: Stack, receiver: OtlpReceiver
) -> None:
    counted = directive(usage={"prompt_tokens": 17, "completion_tokens": 9})
    with httpx.Client(
        base_url=traced_stack.api_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
    ) as client:
        response = client.post(
            "/v1/chat/completions",
            json={
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"say hi {PROMPT_MARKER} {counted}"}],
                "max_tokens": 50,
                "temperature": 0.25,
            },
        )
        assert response.status_code == 200, response.text
        job_id = response.headers["x-llm-gateway-job-id"]
        job = client.get(f"/v1/jobs/{job_id}").json()
    trace: list[ReceivedSpan] = []

    def arrived() -> bool:
        trace[:] = _trace_of(receiver, job_id)
        return bool(trace)

    try:
        wait_until(arrived, 30, "the job's spans at the receiver")
    except TimeoutError:
        received = [(s.service, s.kind, s.name) for s in receiver.spans]
        raise AssertionError(f"the job's trace did not arrive whole; got: {received}") from None

    server = _one(trace, "API server span", kind="server", service="llm-gateway-api")
    send = _one(trace, "enqueue span", kind="producer", service="llm-gateway-api")
    task = _one(trace, "worker task span", kind="consumer", service="llm-gateway-worker")
    call = _one(trace, "provider call span", name="chat gpt-4o-mini", kind="client")
    http_call = [s for s in trace if s.parent_id == call.span_id]

    assert "/v1/chat/completions" in server.name and server.parent_id == ""
    assert send.name == "llm.run_job send" and send.parent_id == server.span_id
    assert send.attributes["llm_gateway.job_id"] == job_id
    assert send.attributes["messaging.destination.name"] == "llm.openai"
    # The trace context crossed the Redis message into the worker.
    assert task.name == "run/llm.run_job" and task.parent_id == send.span_id
    ancestors = {s.span_id: s.parent_id for s in trace}
    parent = call.parent_id
    while parent and parent != task.span_id:
        parent = ancestors.get(parent, "")
    assert parent == task.span_id, "the provider call is not within the worker's task span"
    # The SDK's HTTP request, by the httpx instrumentation, to the emulator.
    assert [(s.kind, s.name, s.service) for s in http_call] == [
        ("client", "POST", "llm-gateway-worker")
    ]

    usage = job["usage"]
    assert call.attributes == {
        **call.attributes,
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": job["result"]["model"],
        "gen_ai.usage.input_tokens": usage["prompt_tokens"],
        "gen_ai.usage.output_tokens": usage["completion_tokens"],
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.temperature": 0.25,
        "gen_ai.response.finish_reasons": ["stop"],
        "llm_gateway.job_id": job_id,
        "llm_gateway.tenant": "tenant_t",
        "llm_gateway.instance": "openai",
        "llm_gateway.attempt": 1,
        "llm_gateway.fallback": False,
        "llm_gateway.stream": False,
    }
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (17, 9)
    # Neither the prompt nor a credential is on any span of the trace.
    for span in trace:
        for value in span.attributes.values():
            assert PROMPT_MARKER not in str(value) and SECRET not in str(value), span


def test_a_provider_failure_marks_the_call_span_with_the_error_type(
    traced_stack: Stack, receiver: OtlpReceiver
) -> None:
    with httpx.Client(
        base_url=traced_stack.api_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
    ) as client:
        # The emulated provider refuses the request: not retryable, the job fails at once.
        refused = directive(status=400, error="refused by the emulator")
        response = client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": refused}]},
        )
        job_id = response.headers.get("x-llm-gateway-job-id", "")
    assert response.status_code >= 400 and job_id, response.text

    def failed_call() -> list[ReceivedSpan]:
        return [
            s
            for s in receiver.spans
            if s.attributes.get("llm_gateway.job_id") == job_id and s.kind == "client"
        ]

    wait_until(lambda: bool(failed_call()), 30, "the failed call's span")
    span = failed_call()[0]
    assert span.error and span.attributes["error.type"], span.attributes
    assert "gen_ai.usage.input_tokens" not in span.attributes


def test_a_streamed_chat_is_one_trace_with_a_streaming_call_span(
    traced_stack: Stack, receiver: OtlpReceiver
) -> None:
    counted = directive(usage={"prompt_tokens": 11, "completion_tokens": 5})
    with (
        httpx.Client(
            base_url=traced_stack.api_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        ) as client,
        client.stream(
            "POST",
            "/v1/chat/completions",
            json={
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"stream {counted}"}],
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        ) as response,
    ):
        body = response.read().decode()
        job_id = response.headers["x-llm-gateway-job-id"]
    assert response.status_code == 200 and "[DONE]" in body
    trace: list[ReceivedSpan] = []

    def arrived() -> bool:
        trace[:] = _trace_of(receiver, job_id)
        return bool(trace)

    wait_until(arrived, 30, "the streamed job's trace")
    server = _one(trace, "API server span", kind="server", service="llm-gateway-api")
    task = _one(trace, "worker task span", kind="consumer", service="llm-gateway-worker")
    call = _one(trace, "provider call span", name="chat gpt-4o-mini", kind="client")
    assert server.parent_id == "" and task.service == "llm-gateway-worker"
    assert call.attributes["llm_gateway.stream"] is True
    assert call.attributes["gen_ai.usage.input_tokens"] == 11
    assert call.attributes["gen_ai.usage.output_tokens"] == 5
