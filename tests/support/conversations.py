"""Conversations shared by the session tests."""

from __future__ import annotations

from typing import Any

# A user question, a tool call with its result, and the answer: one whole turn.
HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": "what is 2+2?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "calc", "arguments": '{"expr": "2+2"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "4"},
    {"role": "assistant", "content": "4"},
]
