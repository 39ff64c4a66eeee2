"""``ToolExecutor``: concurrent calls, outcomes in order, every tool-level problem reported
as a failed outcome (never raised), deadlines for Python tools, and ``as_content``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.downstream import DownstreamControl
from tests.tools import sample_tools
from tests.tools.stand_in import DownstreamServer
from tools.executor import ToolExecutor, ToolOutcome
from tools.registry import ToolRegistry, tool

NUMBERS = {
    "type": "object",
    "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
    "required": ["a", "b"],
}
ANY_OBJECT: dict[str, Any] = {"type": "object"}


@pytest.fixture
def executor(registry: ToolRegistry) -> Iterator[ToolExecutor]:
    """The shipped tools plus Python ones, on four threads."""
    registry.register(tool(sample_tools.add, parameters=NUMBERS))
    registry.register(tool(sample_tools.explode, parameters=ANY_OBJECT))
    registry.register(tool(sample_tools.sleep, parameters=ANY_OBJECT, timeout_seconds=0.3))
    registry.register(tool(sample_tools.not_json, parameters=ANY_OBJECT))
    running = ToolExecutor(registry, max_parallel=4, timeout_seconds=5)
    yield running
    running.close()


def test_calls_run_concurrently_and_come_back_in_order(
    executor: ToolExecutor, downstream: DownstreamControl
) -> None:
    downstream.behave("/v1/", latency_ms=300)
    calls: list[tuple[str, object]] = [
        ("search_corpus", {"query": "redis"}),
        ("get_chunk", {"chunk_id": "chunk-002"}),
        ("get_chunk", {"chunk_id": "chunk-010"}),
        ("review_code", {"code": "print(1)"}),
    ]
    outcomes = executor.run_many(calls)
    assert [o.name for o in outcomes] == [name for name, _ in calls]
    assert all(o.ok for o in outcomes)
    assert [o.output["chunk_id"] for o in outcomes[1:3]] == ["chunk-002", "chunk-010"]
    assert all(o.seconds > 0.25 for o in outcomes)
    # Concurrent, shown by the service's own record (not by a wall-clock bound, which a busy
    # runner breaks): every call had started before any finished.
    records = downstream.requests()
    assert max(r["t_start"] for r in records) < min(r["t_end"] for r in records)


def test_failures_are_outcomes_in_their_place_among_successes(
    executor: ToolExecutor, downstream: DownstreamControl
) -> None:
    outcomes = executor.run_many(
        [
            ("add", {"a": 2, "b": 3}),
            ("no_such_tool", {}),
            ("search_corpus", {"query": "x", "top_k": "many"}),
            ("get_chunk", {"chunk_id": "chunk-999"}),
            ("search_corpus", "not an object"),
            ("explode", {}),
            ("search_corpus", {"query": "tool calls"}),
        ]
    )
    assert [(o.ok, o.error["type"] if o.error else None) for o in outcomes] == [
        (True, None),
        (False, "tool_not_found"),
        (False, "invalid_tool_arguments"),
        (False, "tool_error"),
        (False, "invalid_tool_arguments"),
        (False, "tool_error"),
        (True, None),
    ]
    assert outcomes[0].output == 5
    assert outcomes[2].error == {
        "type": "invalid_tool_arguments",
        "message": "arguments.top_k: 'many' is not of type 'integer'",
        "param": "arguments.top_k",
    }
    assert outcomes[3].error == {
        "type": "tool_error",
        "message": "semantic_search answered 404: chunk not found",
        "param": None,
    }
    # Only valid calls reached the service.
    assert len(downstream.requests()) == 2


def test_a_crashing_python_tool_reports_an_internal_error_without_details(
    executor: ToolExecutor,
) -> None:
    outcome = executor.run("explode", {"secret": "hunter2"})
    assert not outcome.ok
    assert outcome.error == {
        "type": "tool_error",
        "message": "internal error in tool 'explode'",
        "param": None,
    }
    content = outcome.as_content()
    assert "hunter2" not in content
    assert "Traceback" not in content
    assert "boom" not in content


def test_a_python_tool_past_its_deadline_times_out(executor: ToolExecutor) -> None:
    started = time.monotonic()
    outcome = executor.run("sleep", {"seconds": 2})
    assert time.monotonic() - started < 2.0  # did not wait for the tool
    assert outcome.error == {
        "type": "tool_timeout",
        "message": "tool 'sleep' did not finish within 0.3s",
        "param": None,
    }
    assert executor.run("sleep", {"seconds": 0.01}).output == "slept"


def test_a_deadline_runs_from_the_calls_start_not_from_when_it_is_collected(
    executor: ToolExecutor, downstream: DownstreamControl
) -> None:
    downstream.behave("/v1/search", latency_ms=800)
    started = time.monotonic()
    slow, stuck = executor.run_many([("search_corpus", {"query": "x"}), ("sleep", {"seconds": 3})])
    assert time.monotonic() - started < 1.15
    assert slow.ok
    assert stuck.error is not None
    assert stuck.error["type"] == "tool_timeout"
    assert stuck.seconds == 0.3


def test_a_python_tool_returning_non_json_is_a_tool_error(executor: ToolExecutor) -> None:
    outcome = executor.run("not_json", {})
    assert outcome.error == {
        "type": "tool_error",
        "message": "tool 'not_json' returned a value that is not JSON",
        "param": None,
    }


def test_a_stopped_service_is_reported_not_raised(
    executor: ToolExecutor, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    downstream_server.stop()
    outcomes = executor.run_many(
        [
            ("search_corpus", {"query": "x"}),
            ("add", {"a": 1, "b": 1}),
            ("review_code", {"code": "x"}),
        ]
    )
    assert [o.error["type"] if o.error else o.output for o in outcomes] == [
        "tool_unavailable",
        2,
        "tool_unavailable",
    ]
    assert outcomes[0].error == {
        "type": "tool_unavailable",
        "message": "semantic_search is unreachable",
        "param": None,
    }
    assert outcomes[2].error is not None
    assert outcomes[2].error["message"] == "ai_agents is unreachable"


def test_time_queued_for_a_thread_is_not_counted_against_the_deadline(
    registry: ToolRegistry,
) -> None:
    registry.register(tool(sample_tools.sleep, parameters=ANY_OBJECT, timeout_seconds=0.5))
    narrow = ToolExecutor(registry, max_parallel=2)
    try:
        started = time.monotonic()
        outcomes = narrow.run_many([("sleep", {"seconds": 0.3})] * 4)
        elapsed = time.monotonic() - started
    finally:
        narrow.close()
    # Queued calls did not time out; and two at a time, so at least two sleeps long.
    assert [o.output for o in outcomes] == ["slept"] * 4
    assert elapsed > 0.55


def test_a_closed_executor_refuses_calls_as_outcomes(registry: ToolRegistry) -> None:
    closed = ToolExecutor(registry)
    closed.close()
    outcome = closed.run("search_corpus", {"query": "x"})
    assert outcome.error == {
        "type": "tool_unavailable",
        "message": "the worker is stopping",
        "param": None,
    }


def test_as_content_is_the_json_a_model_receives() -> None:
    ok = ToolOutcome("get_chunk", ok=True, output={"text": "héllo"}, seconds=0.1)
    assert json.loads(ok.as_content()) == {"output": {"text": "héllo"}}
    assert "héllo" in ok.as_content()
    failed = ToolOutcome(
        "search_corpus",
        ok=False,
        error={"type": "tool_unavailable", "message": "circuit open", "retry_after": 2.5},
    )
    assert json.loads(failed.as_content()) == {
        "error": {"type": "tool_unavailable", "message": "circuit open", "retry_after": 2.5}
    }
    assert json.loads(ToolOutcome("t", ok=True).as_content()) == {"output": None}


@pytest.mark.parametrize(
    "value",
    [{1: "integer key"}, 2**64, "\ud800", float("nan"), [1.0, float("inf")]],
    ids=["int-key", "huge-int", "lone-surrogate", "nan", "inf"],
)
def test_python_tool_output_the_record_cannot_store_is_a_tool_error(
    registry: ToolRegistry, value: object
) -> None:
    def unstorable() -> object:
        """Returns what JSON allows but the job record does not."""
        return value

    registry.register(tool(unstorable, parameters=ANY_OBJECT))
    running = ToolExecutor(registry, max_parallel=1)
    try:
        outcome = running.run("unstorable", {})
    finally:
        running.close()
    assert not outcome.ok
    assert outcome.error is not None and outcome.error["type"] == "tool_error"
