"""``ToolExecutor``: runs tool calls, several at once, and turns every tool-level problem
(unknown tool, bad arguments, a failing service, a crashing tool) into a failed
``ToolOutcome`` for the model or the job, never an exception.

Calls run on the executor's own thread pool, so each call has a deadline even when the tool
is a plain Python function. A Python tool past its deadline cannot be stopped: its thread
finishes in the background (logged) while the caller gets ``tool_timeout``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from gateway.errors import GatewayError, ToolFailed, ToolTimeout, ToolUnavailable
from tools.registry import Tool, ToolRegistry
from tools.tool_spans import ToolSpan, tool_call

log = structlog.get_logger(__name__)

# HTTP tools enforce their own deadline and say why they missed it; the executor's
# backstop fires just after, so that message wins.
DEADLINE_GRACE_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """How one tool call ended: ``output`` (JSON-able) if ``ok``, else ``error``, the
    public error body (``{"type", "message", "param"}``, plus ``retry_after`` if known)."""

    name: str
    ok: bool
    output: Any = None
    error: dict[str, Any] | None = None
    seconds: float = 0.0

    @classmethod
    def failed(cls, name: str, error: GatewayError, seconds: float = 0.0) -> ToolOutcome:
        return cls(name=name, ok=False, error=error.to_dict(), seconds=seconds)

    def as_content(self) -> str:
        """The JSON text a model receives as the tool message's content."""
        body = {"output": self.output} if self.ok else {"error": self.error}
        return json.dumps(body, ensure_ascii=False)


@dataclass(slots=True)
class _Call:
    """One call in flight: ``started`` is set (and ``started_at`` stamped) by its thread."""

    name: str
    timeout: float
    span: ToolSpan
    submitted_at: float = field(default_factory=time.monotonic)
    started: threading.Event = field(default_factory=threading.Event)
    started_at: float = 0.0
    future: Future[ToolOutcome] | None = None
    outcome: ToolOutcome | None = None


class ToolExecutor:
    """Validates and runs tool calls on a pool of ``max_parallel`` threads (created once;
    ``close`` it). ``timeout_seconds`` is the deadline of a tool without its own."""

    def __init__(
        self, registry: ToolRegistry, *, max_parallel: int = 8, timeout_seconds: float = 30.0
    ) -> None:
        self.registry = registry
        self.timeout_seconds = timeout_seconds
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="tool")

    def close(self) -> None:
        """Stop the pool; calls still queued are dropped, running ones finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def run(self, name: str, arguments: object) -> ToolOutcome:
        """Run one call."""
        return self.run_many([(name, arguments)])[0]

    def run_many(
        self, calls: Sequence[tuple[str, object]], call_ids: Sequence[str] = ()
    ) -> list[ToolOutcome]:
        """Run the calls concurrently; outcomes come back in the order given. ``call_ids``:
        the model's ids of the calls, in the same order, for their trace spans."""
        ids = list(call_ids) or [""] * len(calls)
        pending = [
            self._submit(name, arguments, call_id)
            for (name, arguments), call_id in zip(calls, ids, strict=True)
        ]
        return [self._collect(call) for call in pending]

    def _submit(self, name: str, arguments: object, call_id: str) -> _Call:
        known = self.registry.get(name) if name in self.registry else None
        span = tool_call(name, call_id, known.description if known else None)
        call = _Call(name=name, timeout=self.timeout_seconds, span=span)
        try:
            tool = self.registry.get(name)
            checked = self.registry.validate(name, arguments)
        except GatewayError as exc:
            call.outcome = ToolOutcome.failed(name, exc)
            return call
        if tool.timeout_seconds is not None:
            call.timeout = tool.timeout_seconds
        context = span.context()
        try:
            if context is None:
                call.future = self._pool.submit(_invoke, tool, checked, call)
            else:
                call.future = self._pool.submit(context.run, _invoke, tool, checked, call)
        except RuntimeError:  # the pool was closed: the process is shutting down
            call.outcome = ToolOutcome.failed(name, ToolUnavailable("the worker is stopping"))
        return call

    def _collect(self, call: _Call) -> ToolOutcome:
        try:
            outcome = self._outcome(call)
        except BaseException as exc:  # interrupted while waiting: the span still ends
            call.span.ended(type(exc).__name__)
            raise
        call.span.ended(None if outcome.ok else str((outcome.error or {}).get("type")))
        return outcome

    def _outcome(self, call: _Call) -> ToolOutcome:
        if call.outcome is not None:
            return call.outcome
        assert call.future is not None
        # Time queued behind other calls is not the tool's: its clock starts when it
        # starts. The queue is not waited on forever either: at most one timeout.
        queued_for = call.submitted_at + call.timeout - time.monotonic()
        if not call.started.wait(max(queued_for, 0)):
            if call.future.cancel():
                busy = ToolUnavailable(
                    "too many tool calls in progress; try again", retry_after=1.0
                )
                return ToolOutcome.failed(call.name, busy, call.timeout)
            # Not cancellable: it has just begun, and is setting its start time now.
            call.started.wait()
        deadline = call.started_at + call.timeout + DEADLINE_GRACE_SECONDS
        try:
            return call.future.result(timeout=max(deadline - time.monotonic(), 0))
        except FutureTimeout:
            log.warning("tool_deadline_passed", tool=call.name, timeout=call.timeout)
            late = ToolTimeout(f"tool {call.name!r} did not finish within {call.timeout:g}s")
            return ToolOutcome.failed(call.name, late, call.timeout)


def _invoke(tool: Tool, arguments: Mapping[str, Any], call: _Call) -> ToolOutcome:
    """Run one call on a pool thread; never raises."""
    began = call.started_at = time.monotonic()
    call.started.set()
    error: GatewayError
    try:
        output = tool.runner(arguments)
    except GatewayError as exc:
        log.info("tool_failed", tool=tool.name, error_type=exc.error_type)
        error = exc
    except Exception:
        log.exception("tool_crashed", tool=tool.name)
        error = ToolFailed(f"internal error in tool {tool.name!r}")
    else:
        if _is_json(output):
            return ToolOutcome(tool.name, ok=True, output=output, seconds=time.monotonic() - began)
        log.warning("tool_output_not_json", tool=tool.name, output_type=type(output).__name__)
        error = ToolFailed(f"tool {tool.name!r} returned a value that is not JSON")
    return ToolOutcome.failed(tool.name, error, time.monotonic() - began)


def _is_json(value: object) -> bool:
    """Whether the job record can store it: orjson, the record's encoder, is stricter than
    ``json`` (no NaN, no non-string keys, no integers past 64 bits, no lone surrogates)."""
    try:
        orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return False
    return _finite(value)


def _finite(value: object) -> bool:
    # orjson writes NaN and infinities as null; a tool that returns them is broken.
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return True
