"""One job's trace through the real processes: the API over HTTP, the task message through
Redis, a real Celery worker, the provider call to the emulator (a chat, an embedding, a
tool loop's turns and the tools it runs on the downstream stand-in). Each process exports
over OTLP/HTTP, as to a collector, to a receiver in this test (``tests.support.otlp_receiver``).

A stack of its own (own Redis, API and worker): the traced processes must not share a
queue with the session's untraced workers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from emulator import EmulatorControl, directive
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.processes import RedisServer, Stack, free_port, wait_until

KEY = "key-traced-tenant-0123456789"
SECRET = "sk-test-openai-TRACED-SECRET-99aa"
# In the prompt only: it must appear on no span.
PROMPT_MARKER = "purple-elephant-4471"
# The tool loop's prompt, to find its requests among those the emulator recorded.
LOOP_MARKER = "tool-loop-trace-5521"


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
        # The shipped tools (config/tools.yaml) call it, for the tool loop's trace.
        stack.start_downstream()
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


def _client(stack: Stack) -> httpx.Client:
    return httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
    )


def _whole_trace(receiver: OtlpReceiver, job_id: str, what: str) -> list[ReceivedSpan]:
    trace: list[ReceivedSpan] = []

    def arrived() -> bool:
        trace[:] = _trace_of(receiver, job_id)
        return bool(trace)

    try:
        wait_until(arrived, 30, what)
    except TimeoutError:
        received = [(s.service, s.kind, s.name) for s in receiver.spans]
        raise AssertionError(f"{what} did not arrive whole; got: {received}") from None
    return trace


def _url(span: ReceivedSpan) -> str:
    """An HTTP client span's URL (either semantic-convention version), else ""."""
    return str(span.attributes.get("url.full") or span.attributes.get("http.url") or "")


def _within(trace: list[ReceivedSpan], span: ReceivedSpan, ancestor: ReceivedSpan) -> bool:
    parents = {s.span_id: s.parent_id for s in trace}
    parent = span.parent_id
    while parent and parent != ancestor.span_id:
        parent = parents.get(parent, "")
    return parent == ancestor.span_id


def test_an_embedding_job_is_one_trace_with_an_embeddings_call_span(
    traced_stack: Stack, receiver: OtlpReceiver
) -> None:
    with _client(traced_stack) as client:
        response = client.post(
            "/v1/embeddings",
            json={"model": "text-embedding-3-small", "input": ["one text", PROMPT_MARKER]},
        )
        assert response.status_code == 200, response.text
        job_id = response.headers["x-llm-gateway-job-id"]
        job = client.get(f"/v1/jobs/{job_id}").json()
    trace = _whole_trace(receiver, job_id, "the embedding job's trace")

    server = _one(trace, "API server span", kind="server", service="llm-gateway-api")
    task = _one(trace, "worker task span", kind="consumer", service="llm-gateway-worker")
    call = _one(trace, "embeddings call span", name="embeddings text-embedding-3-small")
    assert server.parent_id == "" and "/v1/embeddings" in server.name
    assert call.kind == "client" and _within(trace, call, task)
    # The SDK's HTTP request to the emulator is the call span's child.
    assert [s.name for s in trace if s.parent_id == call.span_id] == ["POST"]
    assert call.attributes == {
        **call.attributes,
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.usage.input_tokens": job["usage"]["prompt_tokens"],
        "llm_gateway.job_id": job_id,
        "llm_gateway.instance": "openai",
    }
    assert job["usage"]["prompt_tokens"] > 0
    assert "gen_ai.usage.output_tokens" not in call.attributes
    for span in trace:
        for value in span.attributes.values():
            assert PROMPT_MARKER not in str(value) and SECRET not in str(value), span


def test_a_tool_loop_traces_each_model_turn_and_each_tool_call_in_the_job_s_trace(
    traced_stack: Stack, receiver: OtlpReceiver
) -> None:
    search = {"name": "search_corpus", "arguments": {"query": PROMPT_MARKER, "top_k": 2}}
    chunk = {"name": "get_chunk", "arguments": {"chunk_id": "chunk-001"}}
    # Turn 1 calls two tools at once, turn 2 answers.
    turns = directive(turns=[{"tool_calls": [search, chunk]}, {}])
    tools = [{"type": "function", "function": {"name": n}} for n in ("search_corpus", "get_chunk")]
    request = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": f"{LOOP_MARKER} {turns}"}],
        "tools": tools,
    }
    with _client(traced_stack) as client:
        response = client.post("/v1/jobs", json={"type": "completion", "request": request})
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        waited = client.get(f"/v1/jobs/{job_id}/wait", params={"timeout": 60})
        job = waited.json()
    assert job["status"] == "succeeded", job
    produced = job["result"]["tool_loop"]
    assert produced["iterations"] == 1

    def complete() -> bool:
        trace = _trace_of(receiver, job_id)
        return len([s for s in trace if s.attributes.get("gen_ai.operation.name")]) >= 4

    wait_until(complete, 30, "the tool loop's four GenAI spans")
    trace = _trace_of(receiver, job_id)
    task = _one(trace, "worker task span", kind="consumer", service="llm-gateway-worker")
    chats = sorted((s for s in trace if s.name == "chat gpt-4o-mini"), key=lambda s: s.start_ns)
    searched = _one(trace, "search tool span", name="execute_tool search_corpus")
    fetched = _one(trace, "chunk tool span", name="execute_tool get_chunk")
    assert len(chats) == 2, [(s.kind, s.name) for s in trace]
    first, answer = chats
    # In the job's trace, between the turn that called them and the turn that answered.
    for tool_span in (searched, fetched):
        assert tool_span.kind == "internal" and _within(trace, tool_span, task)
        # One worker process, one clock: the order of its spans is the order of events.
        assert first.end_ns <= tool_span.start_ns <= tool_span.end_ns <= answer.start_ns
        # The tool's request to the downstream service is the tool span's child (beside
        # the service circuit breaker's Redis calls).
        requests = [_url(s) for s in trace if s.parent_id == tool_span.span_id and _url(s)]
        path = "/v1/search" if tool_span is searched else "/v1/chunks/chunk-001"
        assert [u.split("?")[0].endswith(path) for u in requests] == [True], requests
    for tool_span, name in ((searched, "search_corpus"), (fetched, "get_chunk")):
        assert tool_span.attributes == {
            **tool_span.attributes,
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "extension",
        }
        assert not tool_span.error
    # The call ids are the model's: the ones the answering turn's tool messages carry.
    requests = EmulatorControl(traced_stack.emulator_url).requests()
    [answering] = [r for r in requests if LOOP_MARKER in str(r["body"]) and r["turn"] == 1]
    by_id = {m["tool_call_id"] for m in answering["body"]["messages"] if m["role"] == "tool"}
    assert len(by_id) == 2
    assert {s.attributes["gen_ai.tool.call.id"] for s in (searched, fetched)} == by_id
    assert first.attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert answer.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    usage = job["usage"]
    assert sum(c.attributes["gen_ai.usage.input_tokens"] for c in chats) == usage["prompt_tokens"]
    # Tool arguments (the marker is the search query) are on no span.
    for span in trace:
        for value in span.attributes.values():
            assert PROMPT_MARKER not in str(value), span
