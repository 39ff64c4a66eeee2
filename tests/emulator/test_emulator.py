"""Replies, tool loops and latency, over real HTTP with the official SDKs."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anthropic
import openai

from emulator import EmulatorControl, directive

WEATHER = [{"name": "get_weather", "arguments": {"city": "Paris"}}]


# --- replies -----------------------------------------------------------------


def test_openai_echo_and_usage(oai: openai.OpenAI) -> None:
    result = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "1234"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "abcdefgh"},
        ],
    )
    assert result.object == "chat.completion"
    assert result.id.startswith("chatcmpl-")
    assert result.model == "gpt-4o-mini"
    choice = result.choices[0]
    assert choice.message.content == "echo: abcdefgh"
    assert choice.finish_reason == "stop"
    assert choice.message.tool_calls is None
    # 4 + 5 + 2 + 8 = 19 chars -> 5 tokens; "echo: abcdefgh" = 14 chars -> 4 tokens.
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (5, 4)
    assert result.usage.total_tokens == 9


def test_anthropic_echo_and_usage(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-emulated",
        max_tokens=100,
        system="1234",
        messages=[{"role": "user", "content": [{"type": "text", "text": "abcdefgh"}]}],
    )
    assert message.id.startswith("msg_")
    assert (message.type, message.role, message.model) == (
        "message",
        "assistant",
        "claude-emulated",
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "echo: abcdefgh"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (3, 4)


def test_in_text_reply_directive_is_stripped_and_last_wins(oai: openai.OpenAI) -> None:
    first = oai.chat.completions.create(
        model="m",
        messages=[
            {"role": "system", "content": "be nice " + directive(reply="from system")},
            {"role": "user", "content": "hi " + directive(reply="from user")},
        ],
    )
    assert first.choices[0].message.content == "from user"
    echoed = oai.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hello " + directive(latency_ms=0)}],
    )
    assert echoed.choices[0].message.content == "echo: hello"


def test_usage_and_finish_reason_overrides(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    text = "x " + directive(
        usage={"prompt_tokens": 11, "completion_tokens": 22}, finish_reason="length"
    )
    result = oai.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
    assert result.choices[0].finish_reason == "length"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (11, 22)
    message = claude.messages.create(
        model="m", max_tokens=5, messages=[{"role": "user", "content": text}]
    )
    assert message.stop_reason == "max_tokens"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 22)


# --- tool loops --------------------------------------------------------------


def test_openai_tool_call_then_tool_result(oai: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "weather? " + directive(tool_calls=WEATHER)}]
    first = oai.chat.completions.create(model="m", messages=messages)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.id.startswith("call_")
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
    messages.append({"role": "tool", "tool_call_id": "call_other", "content": "21C"})
    second = oai.chat.completions.create(model="m", messages=messages)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "tool results: sunny; 21C"

    # A new user message re-arms the directive: the loop can start again.
    messages.append({"role": "user", "content": "again " + directive(tool_calls=WEATHER)})
    third = oai.chat.completions.create(model="m", messages=messages)
    assert third.choices[0].finish_reason == "tool_calls"


def test_anthropic_tool_use_then_tool_result(claude: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": "weather? " + directive(tool_calls=WEATHER)}]
    first = claude.messages.create(model="m", max_tokens=50, messages=messages)
    assert first.stop_reason == "tool_use"
    block = first.content[0]
    assert block.type == "tool_use"
    assert block.id.startswith("toolu_")
    assert (block.name, block.input) == ("get_weather", {"city": "Paris"})

    messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}],
        }
    )
    second = claude.messages.create(model="m", max_tokens=50, messages=messages)
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text"
    assert second.content[0].text == "tool results: sunny"


def test_tool_calls_with_text_and_reply_after_results(claude: anthropic.Anthropic) -> None:
    text = "go " + directive(tool_calls=WEATHER, reply="checking")
    first = claude.messages.create(
        model="m", max_tokens=50, messages=[{"role": "user", "content": text}]
    )
    assert [b.type for b in first.content] == ["text", "tool_use"]
    result_block = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}
    messages: list[Any] = [
        {"role": "user", "content": text},
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {"role": "user", "content": [result_block]},
    ]
    second = claude.messages.create(model="m", max_tokens=50, messages=messages)
    assert second.content[0].type == "text"
    assert second.content[0].text == "checking"


# --- latency -----------------------------------------------------------------


def test_server_latency_and_per_request_override(
    oai: openai.OpenAI, control: EmulatorControl
) -> None:
    def timed(content: str) -> float:
        """How long the emulator held the request, from its own record: the client's round
        trip would also count the SDK and a busy runner's scheduling."""
        control.clear_requests()
        oai.chat.completions.create(model="m", messages=[{"role": "user", "content": content}])
        [entry] = control.requests()
        return float(entry["t_done"] - entry["t"])

    control.set_latency(300)
    assert timed("slow") >= 0.29
    # The override skips the 300 ms sleep entirely (generous: only scheduling is left).
    assert timed("fast " + directive(latency_ms=0)) < 0.29
    control.set_latency(0)
    assert timed("slow " + directive(latency_ms=300)) >= 0.29


def test_concurrent_requests_overlap(emulator_url: str, control: EmulatorControl) -> None:
    control.set_latency(300)

    async def burst() -> list[str]:
        async with openai.AsyncOpenAI(
            base_url=emulator_url + "/v1", api_key="x", max_retries=0
        ) as client:
            results = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": f"n{i}"}]
                    )
                    for i in range(200)
                )
            )
        return [r.choices[0].message.content or "" for r in results]

    start = time.perf_counter()
    replies = asyncio.run(burst())
    elapsed = time.perf_counter() - start
    assert replies == [f"echo: n{i}" for i in range(200)]
    # Sequentially this would take 60 s; overlapping sleeps take ~0.3 s plus overhead.
    assert elapsed < 10
    assert len(control.requests()) == 200
