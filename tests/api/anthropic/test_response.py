"""A finished completion job as Anthropic's ``message``: blocks, stop reasons, usage; the
result meets the documented response model."""

from __future__ import annotations

from typing import Any

import pytest

from api.anthropic.response import anthropic_message, tool_input
from api.schemas.messages import AnthropicMessage
from tasks.jobs.record import JobRecord, JobStatus, JobType


def job(message: dict[str, Any], finish: str, usage: dict[str, int] | None = None) -> JobRecord:
    return JobRecord(
        id="job_0123abcd",
        tenant="t",
        type=JobType.COMPLETION,
        status=JobStatus.SUCCEEDED,
        request={},
        created_at=0.0,
        model="claude-sonnet-4-5",
        result={"message": message, "finish_reason": finish},
        usage=usage,
    )


def test_text_and_tool_calls_become_blocks() -> None:
    reply = {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    usage = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    message = anthropic_message(job(reply, "tool_calls", usage))
    AnthropicMessage.model_validate(message)
    assert message == {
        "id": "msg_0123abcd",
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "model": "claude-sonnet-4-5",
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 5},
    }


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
        ("something_new", "end_turn"),
    ],
)
def test_finish_reasons_map_to_stop_reasons(finish: str, stop: str) -> None:
    message = anthropic_message(job({"role": "assistant", "content": "x"}, finish))
    assert message["stop_reason"] == stop
    assert message["usage"] == {"input_tokens": 0, "output_tokens": 0}


def test_an_empty_reply_has_no_blocks() -> None:
    message = anthropic_message(job({"role": "assistant", "content": None}, "stop"))
    assert message["content"] == []
    AnthropicMessage.model_validate(message)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("", {}),
        ("[1, 2]", {"arguments": "[1, 2]"}),
        ("{not json", {"arguments": "{not json"}),
    ],
)
def test_tool_arguments_become_an_input_object(arguments: str, expected: object) -> None:
    assert tool_input(arguments) == expected
