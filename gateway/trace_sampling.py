"""The gateway's sampler: the one ``OTEL_TRACES_SAMPLER`` configures, minus the traces of
background work. Imported only once tracing is on (``gateway.tracing``).

Workers and the API poll Redis all the time (heartbeats, the deferred-job pump, lease
renewals, instance states) and probe instances over HTTP; instrumented, each poll would be
a trace of one client span, thousands a minute, burying the jobs' traces. A client span
with no parent is such a poll: everything a request or a job does has a parent span (the
HTTP server span, the Celery task span), so those are sampled as configured."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, TraceState, get_current_span
from opentelemetry.util.types import Attributes


class NoBackgroundRoots(Sampler):
    """``configured``, except that a client span starting a trace is dropped."""

    def __init__(self, configured: Sampler) -> None:
        self._configured = configured

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self._configured.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoBackgroundRoots{{{self._configured.get_description()}}}"
