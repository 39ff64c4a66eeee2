"""``gateway.tracing`` in this process, spans caught by the SDK's in-memory exporter: when it
is on, the task message carrying the trace context, the provider call span's GenAI
attributes (chat, embeddings, token counts) and the tool execution spans. (The span tree
across the real processes: ``test_tracing_end_to_end``.)"""

from __future__ import annotations

import base64
import sys
import time
from collections.abc import Iterator

import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway import tracing
from gateway.errors import ProviderRateLimited
from providers.config import InstanceConfig
from providers.embeddings import EmbeddingRequest, EmbeddingResponse
from providers.types import ChatRequest, ChatResponse, Message, TextPart, Usage
from tasks.jobs.messages import TaskMessageBuilder
from tasks.jobs.record import JobRecord, JobStatus, JobType
from tasks.loops.call_spans import provider_call
from tasks.loops.fallbacks import Candidate, RouteState
from tests.tools import sample_tools
from tools.executor import ToolExecutor
from tools.registry import ToolRegistry, tool
from tools.tool_spans import tool_call


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on in this test, into memory (the process's instrumentations untouched)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    yield memory
    provider.shutdown()


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "gw"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
    ],
)
def test_tracing_is_on_only_when_an_exporter_is_configured(
    environ: dict[str, str], on: bool
) -> None:
    assert tracing.configured(environ) is on


def test_setup_does_nothing_when_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert tracing.setup("llm-gateway-test") is False
    assert not tracing.enabled()
    with tracing.span("nothing") as span:
        assert span is None


def test_a_process_told_to_trace_without_the_packages_refuses_to_start_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    # As if the `otel` extra were not installed: importing the SDK fails.
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(RuntimeError, match=r"llm-gateway\[otel\]"):
        tracing.setup("llm-gateway-test")
    assert not tracing.enabled()


def _headers(payload: bytes) -> dict[str, object]:
    headers: dict[str, object] = orjson.loads(payload)["headers"]
    return headers


def test_a_message_carries_no_trace_context_when_tracing_is_off() -> None:
    message = TaskMessageBuilder().run_job("job-1", "llm.openai", 5, None)
    assert "traceparent" not in _headers(message.payload)


def test_a_message_built_in_a_span_carries_its_context(exporter: InMemorySpanExporter) -> None:
    with tracing.span("llm.run_job send", "producer") as span:
        assert span is not None
        message = TaskMessageBuilder().run_job("job-1", "llm.openai", 5, "req-1")
    context = span.get_span_context()
    traceparent = _headers(message.payload)["traceparent"]
    flags = f"{context.trace_flags:02x}"
    assert traceparent == f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags}"
    # The body is untouched: still the one job id argument.
    body = orjson.loads(base64.b64decode(orjson.loads(message.payload)["body"]))
    assert body[0] == ["job-1"]
    [finished] = exporter.get_finished_spans()
    assert finished.kind is SpanKind.PRODUCER


def _job(attempts: int = 0) -> JobRecord:
    return JobRecord(
        id="job-42",
        fingerprint="f",
        tenant="tenant_a",
        type=JobType.COMPLETION,
        status=JobStatus.RUNNING,
        request={"model": "gpt-4o-mini"},
        created_at=time.time(),
        model="gpt-4o-mini",
        provider="primary",
        attempts=attempts,
    )


def _chat() -> ChatRequest:
    message = Message(role="user", content=(TextPart(text="a secret prompt"),))
    return ChatRequest(model="gpt-4o-mini", messages=(message,), max_tokens=64, temperature=0.5)


INSTANCE = InstanceConfig(name="secondary", type="azure_openai")
PRIMARY = Candidate("primary", "gpt-4o-mini")


def _only(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = exporter.get_finished_spans()
    return span


def test_a_chat_call_span_has_the_genai_and_gateway_attributes(
    exporter: InMemorySpanExporter,
) -> None:
    route = RouteState(PRIMARY, Candidate("secondary", "gpt-4o-mini"), ("primary",))
    reply = ChatResponse(
        message=Message(role="assistant", content=(TextPart(text="a secret answer"),)),
        finish_reason="length",
        usage=Usage(prompt_tokens=12, completion_tokens=64),
        model="gpt-4o-mini-2024-07-18",
        provider_response_id="chatcmpl-1",
    )
    with provider_call(_job(attempts=2), INSTANCE, route, _chat()) as call:
        call.replied(reply)
    span = _only(exporter)
    assert span.name == "chat gpt-4o-mini" and span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "azure.ai.openai",
        "gen_ai.system": "azure.ai.openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 64,
        "gen_ai.response.finish_reasons": ("length",),
        "llm_gateway.job_id": "job-42",
        "llm_gateway.tenant": "tenant_a",
        "llm_gateway.instance": "secondary",
        "llm_gateway.attempt": 3,
        "llm_gateway.fallback": True,
        "llm_gateway.stream": False,
    }


def test_an_embeddings_call_span_counts_input_tokens_only(
    exporter: InMemorySpanExporter,
) -> None:
    route = RouteState(PRIMARY, PRIMARY, ())
    request = EmbeddingRequest(model="text-embedding-3-small", inputs=("a", "b"))
    reply = EmbeddingResponse(
        vectors=([0.1], [0.2]), usage=Usage(prompt_tokens=2), model="text-embedding-3-small"
    )
    instance = InstanceConfig(name="primary", type="openai")
    with provider_call(_job(), instance, route, request) as call:
        call.replied(reply)
    attributes = dict(_only(exporter).attributes or {})
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.usage.input_tokens"] == 2
    assert attributes["llm_gateway.fallback"] is False
    assert "gen_ai.usage.output_tokens" not in attributes


def test_a_failed_call_span_is_an_error_with_the_gateway_error_type(
    exporter: InMemorySpanExporter,
) -> None:
    route = RouteState(PRIMARY, PRIMARY, ())
    instance = InstanceConfig(name="primary", type="openai")
    with (
        pytest.raises(ProviderRateLimited),
        provider_call(_job(), instance, route, _chat(), stream=True),
    ):
        raise ProviderRateLimited("slow down", retry_after=2.0)
    span = _only(exporter)
    assert span.status.status_code is StatusCode.ERROR
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == ProviderRateLimited("x").error_type
    assert attributes["llm_gateway.stream"] is True
    assert "gen_ai.usage.input_tokens" not in attributes


def test_a_token_count_span_carries_the_count_but_no_usage_or_sampling_parameters(
    exporter: InMemorySpanExporter,
) -> None:
    route = RouteState(PRIMARY, PRIMARY, ())
    instance = InstanceConfig(name="primary", type="anthropic")
    with provider_call(_job(), instance, route, _chat(), count=True) as call:
        call.counted(17)
    span = _only(exporter)
    assert span.name == "count_tokens gpt-4o-mini" and span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "count_tokens"
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["llm_gateway.counted_input_tokens"] == 17
    # Nothing was used or generated: no usage, and the chat's max_tokens/temperature do
    # not describe a count.
    for absent in ("gen_ai.usage.input_tokens", "gen_ai.request.max_tokens"):
        assert absent not in attributes


def _traced(span_name: str) -> str:
    """A Python tool that traces work of its own: its span must be the tool span's child."""
    with tracing.span(span_name):
        return "done"


@pytest.fixture
def executor() -> Iterator[ToolExecutor]:
    registry = ToolRegistry()
    anything = {"type": "object"}
    registry.register(tool(_traced, parameters=anything, description="Trace, then answer."))
    registry.register(tool(sample_tools.explode, parameters=anything))
    running = ToolExecutor(registry, max_parallel=2, timeout_seconds=5)
    yield running
    running.close()


def test_each_tool_call_is_an_execute_tool_span_under_the_caller_s_span(
    exporter: InMemorySpanExporter, executor: ToolExecutor
) -> None:
    with tracing.span("run/llm.run_job") as task:
        assert task is not None
        outcomes = executor.run_many(
            [("_traced", {"span_name": "inner"}), ("explode", {"secret": "hunter2"})],
            call_ids=["call_1", "call_2"],
        )
    assert [o.ok for o in outcomes] == [True, False]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {
        "run/llm.run_job",
        "execute_tool _traced",
        "execute_tool explode",
        "inner",
    }
    ok, failed, inner = spans["execute_tool _traced"], spans["execute_tool explode"], spans["inner"]
    task_id = task.get_span_context().span_id
    for span in (ok, failed):
        assert span.kind is SpanKind.INTERNAL
        assert span.parent is not None and span.parent.span_id == task_id
    # The tool ran on a pool thread, yet what it traced is the tool span's child.
    assert inner.parent is not None and inner.parent.span_id == ok.context.span_id
    assert dict(ok.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "_traced",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.type": "extension",
        "gen_ai.tool.description": "Trace, then answer.",
    }
    assert ok.status.status_code is not StatusCode.ERROR
    attributes = dict(failed.attributes or {})
    assert failed.status.status_code is StatusCode.ERROR
    assert attributes["gen_ai.tool.call.id"] == "call_2"
    assert attributes["error.type"] == outcomes[1].error["type"]  # type: ignore[index]
    # Neither the arguments nor what the tool said.
    assert all("hunter2" not in str(v) for v in attributes.values())


def test_a_call_of_an_unknown_tool_or_with_bad_arguments_is_a_failed_span_too(
    exporter: InMemorySpanExporter, executor: ToolExecutor
) -> None:
    outcomes = executor.run_many([("no_such_tool", {}), ("_traced", "not an object")])
    assert not any(o.ok for o in outcomes)
    spans = sorted(exporter.get_finished_spans(), key=lambda s: s.name)
    assert [s.name for s in spans] == ["execute_tool _traced", "execute_tool no_such_tool"]
    for span, outcome in zip(spans, reversed(outcomes), strict=True):
        attributes = dict(span.attributes or {})
        assert span.status.status_code is StatusCode.ERROR
        assert attributes["error.type"] == (outcome.error or {})["type"]
        # A tool job's call (or any without a model's id) has no call id.
        assert "gen_ai.tool.call.id" not in attributes


def test_no_tool_span_and_no_context_copy_when_tracing_is_off(executor: ToolExecutor) -> None:
    assert not tracing.enabled()
    off = tool_call("_traced", "call_1")
    assert off.span is None and off.context() is None
    off.ended("tool_error")  # nothing to end: no error either
    assert executor.run("_traced", {"span_name": "inner"}).output == "done"


def test_no_span_and_no_work_when_tracing_is_off() -> None:
    route = RouteState(PRIMARY, PRIMARY, ())
    instance = InstanceConfig(name="primary", type="openai")
    with provider_call(_job(), instance, route, _chat()) as call:
        assert call.span is None


def test_background_client_calls_start_no_trace_but_a_jobs_calls_are_sampled() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    from gateway.trace_sampling import NoBackgroundRoots

    memory = InMemorySpanExporter()
    provider = TracerProvider(sampler=NoBackgroundRoots(ALWAYS_ON))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("EVALSHA", kind=SpanKind.CLIENT):
        pass  # a heartbeat's Redis call: no parent
    with (
        tracer.start_as_current_span("run/llm.run_job", kind=SpanKind.CONSUMER),
        tracer.start_as_current_span("HGETALL", kind=SpanKind.CLIENT),
    ):
        pass
    assert sorted(s.name for s in memory.get_finished_spans()) == ["HGETALL", "run/llm.run_job"]
    provider.shutdown()
