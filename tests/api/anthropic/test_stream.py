"""OpenAI chunks of a completion re-cut into Anthropic's stream events: blocks opened and
closed in order, tool-call fragments as ``input_json_delta``, the end with stop reason and
usage, errors as ``error`` events."""

from __future__ import annotations

from typing import Any

from api.anthropic.stream import MessageEvents, error_event
from api.streaming.openai_chunks import ChatChunks
from tasks.jobs.record import JobRecord, JobStatus, JobType
from tasks.jobs.stream import StreamEntry


def record(**fields: Any) -> JobRecord:
    return JobRecord(
        id="job_abc",
        tenant="t",
        type=JobType.COMPLETION,
        status=fields.pop("status", JobStatus.RUNNING),
        request={},
        created_at=0.0,
        model="gpt-4o-mini",
        **fields,
    )


def run(entries: list[dict[str, Any]], done: JobRecord) -> list[tuple[str, dict[str, Any]]]:
    chunks = ChatChunks("msg_abc", 0, "gpt-4o-mini", include_usage=True)
    message = MessageEvents(record())
    events = [message.start()]
    for i, event in enumerate(entries):
        released = chunks.on_event(StreamEntry(f"{i}-0", event))
        assert released is not None
        events += message.chunks(list(released))
    events += message.chunks(list(chunks.finish(done)))
    if done.status is JobStatus.SUCCEEDED:
        events += message.end()
    return events


def test_text_then_a_tool_call_are_two_blocks() -> None:
    entries = [
        {"type": "attempt", "attempt": 1, "turn": 0, "instance": "openai"},
        {"type": "text", "text": "Let "},
        {"type": "text", "text": "me look."},
        {"type": "tool_call", "index": 0, "id": "call_1", "name": "get_weather", "arguments": ""},
        {"type": "tool_call", "index": 0, "id": "", "name": "", "arguments": '{"city":'},
        {"type": "tool_call", "index": 0, "id": "", "name": "", "arguments": '"Paris"}'},
        {"type": "turn_end", "finish_reason": "tool_calls", "usage": None},
    ]
    usage = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
    done = record(
        status=JobStatus.SUCCEEDED,
        result={"finish_reason": "tool_calls"},
        usage=usage,
    )
    events = run(entries, done)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert (start["id"], start["content"], start["stop_reason"]) == ("msg_abc", [], None)
    assert events[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert events[2][1]["delta"] == {"type": "text_delta", "text": "Let "}
    tool = events[5][1]
    assert tool["index"] == 1
    assert tool["content_block"] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "get_weather",
        "input": {},
    }
    assert [e[1]["delta"]["partial_json"] for e in events[6:8]] == ['{"city":', '"Paris"}']
    assert events[9][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"input_tokens": 9, "output_tokens": 4},
    }


def test_an_empty_answer_still_ends_properly() -> None:
    done = record(status=JobStatus.SUCCEEDED, result={"finish_reason": "length"})
    events = run([], done)
    assert [name for name, _ in events] == ["message_start", "message_delta", "message_stop"]
    assert events[1][1]["delta"]["stop_reason"] == "max_tokens"


def test_a_job_failing_after_output_ends_with_an_error_event() -> None:
    error = {"type": "stream_interrupted", "message": "the provider failed mid-stream"}
    done = record(status=JobStatus.FAILED, error=error)
    events = run([{"type": "text", "text": "partial"}], done)
    assert [name for name, _ in events][-2:] == ["content_block_stop", "error"]
    assert events[-1][1] == {
        "type": "error",
        "error": {"type": "api_error", "message": "the provider failed mid-stream"},
    }


def test_error_events_take_the_type_of_their_status() -> None:
    limited = error_event({"type": "provider_rate_limited", "message": "slow down"})
    assert limited[1]["error"]["type"] == "rate_limit_error"
    restarted = error_event({"type": "stream_restarted", "message": "lost"})
    assert restarted[1]["error"]["type"] == "api_error"
    unknown = error_event({"type": "model_not_found", "message": "no"})
    assert unknown[1]["error"]["type"] == "not_found_error"
