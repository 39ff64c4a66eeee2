"""OpenTelemetry tracing for the API and the workers: one place that decides whether it is
on, sets the SDK up from the standard ``OTEL_*`` variables, installs the maintained
instrumentations, and carries a trace across a task message.

Off unless an exporter is configured (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or ``OTEL_TRACES_EXPORTER`` other than ``none``);
``OTEL_SDK_DISABLED=true`` wins. Off, nothing of OpenTelemetry is imported or installed and
every function here returns at once: the sync path pays one global read per call.

Everything else the SDK reads itself: ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER``/``_ARG``, ``OTEL_EXPORTER_OTLP_HEADERS``/``_TIMEOUT``,
``OTEL_BSP_*``. The exporter speaks OTLP over HTTP/protobuf (a collector's port 4318).
"""

from __future__ import annotations

import contextvars
import importlib.util
import os
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

# The pyproject extra holding the packages tracing needs.
TRACING_EXTRA = "otel"
SpanKind = Literal["internal", "client", "producer"]
Attributes = Mapping[str, str | int | float | bool | list[str]]

# Set once by ``setup``; None: tracing is off in this process.
_tracer: Tracer | None = None
_lock = threading.Lock()


def configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    return bool(exporter) or any(env.get(name, "").strip() for name in endpoints)


def enabled() -> bool:
    return _tracer is not None


def setup(service: str, *, celery: bool = False) -> bool:
    """Turn tracing on in this process if the environment asks for it (idempotent): the
    tracer provider and exporter, and the redis, httpx, urllib3 and botocore instrumentations, plus
    Celery's in a worker (``celery``). ``service``: the service name unless
    ``OTEL_SERVICE_NAME`` says otherwise. Returns whether tracing is on."""
    global _tracer
    if not configured():
        return False
    with _lock:
        if _tracer is None:
            _tracer = _install(service, celery)
    return True


def _install(service: str, celery: bool) -> Tracer:
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
        from opentelemetry.instrumentation.httpx import (
            HTTPX2ClientInstrumentor,
            HTTPXClientInstrumentor,
        )
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )
    except ImportError as exc:
        raise RuntimeError(
            "OTEL_* variables ask for traces but OpenTelemetry is not installed: install "
            f"the `{TRACING_EXTRA}` extra (pip install 'llm-gateway[{TRACING_EXTRA}]')"
        ) from exc
    from gateway.trace_sampling import NoBackgroundRoots

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    # The sampler OTEL_TRACES_SAMPLER names, as the SDK reads it, without background polls.
    configured_sampler = TracerProvider(shutdown_on_exit=False).sampler
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: name}),
        sampler=NoBackgroundRoots(configured_sampler),
    )
    exporter: SpanExporter
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    # The OpenAI and Anthropic SDKs send through httpx2, httpx's successor (their dependency).
    if importlib.util.find_spec("httpx2") is not None:
        HTTPX2ClientInstrumentor().instrument(tracer_provider=provider)
    # OpenAI's and Azure's chat calls (providers/openai_wire.py); botocore's requests too.
    URLLib3Instrumentor().instrument(tracer_provider=provider)
    BotocoreInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    if celery:
        # A task's span, child of the context its message carries (``inject``).
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        CeleryInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    return trace.get_tracer("llm_gateway")


def instrument_fastapi(app: Any) -> None:
    """Server spans for ``app``'s requests (not for health checks and scrapes). Without the
    ASGI layer's span per message sent or received: a streamed answer would otherwise be a
    span per event."""
    if _tracer is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="health,metrics", exclude_spans=["receive", "send"]
    )


def inject(carrier: MutableMapping[str, Any]) -> None:
    """Put the current trace context (``traceparent``, ``tracestate``) into ``carrier``: a
    task message's headers, which the worker's Celery instrumentation reads back."""
    if _tracer is None:
        return
    from opentelemetry.propagate import inject as propagate

    propagate(carrier)


@contextmanager
def span(
    name: str, kind: SpanKind = "internal", attributes: Attributes | None = None
) -> Iterator[Span | None]:
    """A span around the block, current within it; None (and nothing recorded) when
    tracing is off. An exception escaping the block marks the span as an error."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind as Kind

    kinds = {"internal": Kind.INTERNAL, "client": Kind.CLIENT, "producer": Kind.PRODUCER}
    with _tracer.start_as_current_span(name, kind=kinds[kind], attributes=attributes) as current:
        yield current


def start_span(
    name: str, kind: SpanKind = "internal", attributes: Attributes | None = None
) -> Span | None:
    """A span started now, a child of the current one but itself current nowhere: for
    work that runs on another thread (``context_of``). The caller ends it (``Span.end``).
    None when tracing is off."""
    if _tracer is None:
        return None
    from opentelemetry.trace import SpanKind as Kind

    kinds = {"internal": Kind.INTERNAL, "client": Kind.CLIENT, "producer": Kind.PRODUCER}
    return _tracer.start_span(name, kind=kinds[kind], attributes=attributes)


def context_of(span: Span) -> contextvars.Context:
    """A copy of this thread's context with ``span`` current: ``ctx.run(f)`` on a pool
    thread makes what ``f`` traces (an HTTP tool's request) children of ``span``. A thread
    pool does not carry the caller's context by itself."""
    from opentelemetry import context, trace

    token = context.attach(trace.set_span_in_context(span))
    try:
        return contextvars.copy_context()
    finally:
        context.detach(token)
