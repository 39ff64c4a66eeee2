"""What the per-provider stack tests share: the weather tool and its two-turn round trip
through ``/v1/chat/completions``. Each test then checks its own wire format."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from emulator import directive

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

Chat = Callable[..., httpx.Response]
"""``chat(*messages, **fields)``: one request to ``/v1/chat/completions``."""


def weather_round_trip(
    chat: Chat, tool: dict[str, Any] = WEATHER_TOOL, **first_fields: Any
) -> dict[str, Any]:
    """Ask for Paris's weather (the emulated model calls ``get_weather``), answer the call
    with "18C and sunny", and check the model's final answer. Returns the tool call; the
    emulator recorded the two requests in order."""
    text = "weather? " + directive(
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]
    )
    question = {"role": "user", "content": text}
    first = chat(question, tools=[tool], **first_fields)
    assert first.status_code == 200, first.text
    choice = first.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}

    result = {"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"}
    second = chat(question, choice["message"], result, tools=[tool])
    assert second.status_code == 200, second.text
    answer = second.json()["choices"][0]
    assert (answer["finish_reason"], answer["message"]["content"]) == (
        "stop",
        "tool results: 18C and sunny",
    )
    call_made: dict[str, Any] = call
    return call_made
