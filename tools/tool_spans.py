"""The trace span of one tool call the gateway runs, with the OpenTelemetry GenAI
semantic-convention attributes of tool execution (``execute_tool {tool name}``,
``gen_ai.operation.name`` ``execute_tool``, ``gen_ai.tool.*``).

A call runs on the executor's thread pool while the worker's thread waits for the round:
the span is started when the call is submitted, made current on the pool thread that runs
it (so an HTTP tool's request is its child), and ended when the outcome is collected, so it
covers what the loop waited for, a timed-out call included. Never arguments or output on
the span. Tracing off (``gateway.tracing``), the span is None and nothing here does any work.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway import tracing

if TYPE_CHECKING:
    from opentelemetry.trace import Span

# Every tool the gateway runs is run on the agent's side (here) and reaches an external
# service or runs its own code: the conventions' "extension", not a client-side "function".
TOOL_TYPE = "extension"


@dataclass(frozen=True, slots=True)
class ToolSpan:
    """The span of a tool call in progress; ``ended`` records how it ended."""

    span: Span | None

    def context(self) -> contextvars.Context | None:
        """The context to run the call in on a pool thread, the span current in it."""
        return None if self.span is None else tracing.context_of(self.span)

    def ended(self, error_type: str | None) -> None:
        """End the span; ``error_type``: the public error type of a failed call."""
        if self.span is None:
            return
        if error_type is not None:
            from opentelemetry.trace import Status, StatusCode

            self.span.set_attribute("error.type", error_type)
            self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()


def tool_call(name: str, call_id: str | None, description: str | None = None) -> ToolSpan:
    """A span for a call of tool ``name``, begun now; ``call_id``: the model's id of the
    call (none for a ``tool`` job, which the client asked for directly)."""
    if not tracing.enabled():
        return ToolSpan(None)
    attributes: dict[str, str | int | float | bool | list[str]] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.type": TOOL_TYPE,
    }
    if call_id:
        attributes["gen_ai.tool.call.id"] = call_id
    if description:
        attributes["gen_ai.tool.description"] = description
    return ToolSpan(tracing.start_span(f"execute_tool {name}", "internal", attributes))
