"""A finished completion job as Anthropic's ``message`` object.

The neutral finish reasons map to Anthropic's stop reasons; ``stop_sequence`` is never
reported: providers' answers do not all say which sequence stopped them, so a stop at one
is ``end_turn``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tasks.jobs.record import JobRecord

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def message_id(job_id: str) -> str:
    return f"msg_{job_id.removeprefix('job_')}"


def stop_reason(finish_reason: object) -> str:
    return STOP_REASONS.get(str(finish_reason), "end_turn")


def usage(job_usage: Mapping[str, Any] | None) -> dict[str, int]:
    counts = job_usage or {}
    return {
        "input_tokens": int(counts.get("prompt_tokens") or 0),
        "output_tokens": int(counts.get("completion_tokens") or 0),
    }


def tool_input(arguments: object) -> dict[str, Any]:
    """A tool call's arguments (JSON text) as Anthropic's ``input`` object; text that is
    not a JSON object (a provider's malformed call) is kept under ``arguments``."""
    try:
        value = json.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"arguments": arguments}


def anthropic_message(job: JobRecord) -> dict[str, Any]:
    """The ``message`` for a succeeded completion job."""
    result = job.result or {}
    reply = result.get("message") or {}
    content: list[dict[str, Any]] = []
    text = reply.get("content")
    if isinstance(text, list):  # content parts: their text
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    if text:
        content.append({"type": "text", "text": text})
    for call in reply.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "",
                "name": function.get("name") or "",
                "input": tool_input(function.get("arguments")),
            }
        )
    return {
        "id": message_id(job.id),
        "type": "message",
        "role": "assistant",
        "content": content,
        "model": job.model or "",
        "stop_reason": stop_reason(result.get("finish_reason")),
        "stop_sequence": None,
        "usage": usage(job.usage),
    }
