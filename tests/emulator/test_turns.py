"""Multi-turn tool loops scripted with ``turns``, and the ``turn``/``tool_results`` records."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import anthropic
import openai
import pytest

from emulator import EmulatorControl, directive
from emulator.behaviour import Turn, decide
from emulator.directives import Directive, DirectiveError, ToolCall, find_directive
from emulator.state import RECORDED_TOOL_RESULT_CHARS

SEARCH = {"name": "search_corpus", "arguments": {"query": "llamas"}}
GET_CHUNK = {"name": "get_chunk", "arguments": {"id": 7}}
LOOP = directive(turns=[{"tool_calls": [SEARCH]}, {"tool_calls": [GET_CHUNK]}, {"reply": "done"}])


def ask_openai(oai: openai.OpenAI, messages: list[Any]) -> Any:
    """One call; appends the assistant message and returns the choice."""
    choice = oai.chat.completions.create(model="m", messages=messages).choices[0]
    messages.append(choice.message.model_dump(exclude_none=True))
    return choice


def answer_openai_calls(choice: Any, messages: list[Any], result: str) -> None:
    for call in choice.message.tool_calls:
        messages.append({"role": "tool", "tool_call_id": call.id, "content": result})


def ask_claude(claude: anthropic.Anthropic, messages: list[Any]) -> Any:
    """One call; appends the assistant message and returns the message."""
    message = claude.messages.create(model="m", max_tokens=50, messages=messages)
    messages.append({"role": "assistant", "content": [b.model_dump() for b in message.content]})
    return message


def answer_claude_calls(message: Any, messages: list[Any], result: str) -> None:
    blocks = [
        {"type": "tool_result", "tool_use_id": block.id, "content": result}
        for block in message.content
        if block.type == "tool_use"
    ]
    messages.append({"role": "user", "content": blocks})


def post_raw(url: str, body: object, headers: dict[str, str]) -> tuple[int, Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"content-type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


# --- picking the entry -------------------------------------------------------


def test_openai_turns_pick_entry_by_assistant_messages_since_last_user(
    oai: openai.OpenAI, control: EmulatorControl
) -> None:
    messages: list[Any] = [{"role": "user", "content": "find llamas " + LOOP}]
    first = ask_openai(oai, messages)
    assert first.finish_reason == "tool_calls"
    assert [c.function.name for c in first.message.tool_calls] == ["search_corpus"]
    assert json.loads(first.message.tool_calls[0].function.arguments) == {"query": "llamas"}
    answer_openai_calls(first, messages, "chunk 7 matches")

    # Tool results follow the last user message, yet the turn-1 entry's calls fire.
    second = ask_openai(oai, messages)
    assert second.finish_reason == "tool_calls"
    assert [c.function.name for c in second.message.tool_calls] == ["get_chunk"]
    answer_openai_calls(second, messages, "llamas hum")

    third = ask_openai(oai, messages)
    assert (third.finish_reason, third.message.content) == ("stop", "done")
    assert third.message.tool_calls is None

    # A new user message starts the loop again at turn 0.
    messages.append({"role": "user", "content": "again"})
    again = ask_openai(oai, messages)
    assert [c.function.name for c in again.message.tool_calls] == ["search_corpus"]

    records = control.requests()
    assert [r["turn"] for r in records] == [0, 1, 2, 0]
    # Every tool result since the last user message, not only the last round's.
    assert [r["tool_results"] for r in records] == [
        [],
        ["chunk 7 matches"],
        ["chunk 7 matches", "llamas hum"],
        [],
    ]


def test_anthropic_turns_pick_entry_by_assistant_messages_since_last_user(
    claude: anthropic.Anthropic, control: EmulatorControl
) -> None:
    messages: list[Any] = [{"role": "user", "content": "find llamas " + LOOP}]
    first = ask_claude(claude, messages)
    assert first.stop_reason == "tool_use"
    assert [(b.name, b.input) for b in first.content] == [("search_corpus", {"query": "llamas"})]
    # Tool results travel in user-role messages; they do not restart the loop.
    answer_claude_calls(first, messages, "chunk 7 matches")

    second = ask_claude(claude, messages)
    assert second.stop_reason == "tool_use"
    assert [(b.name, b.input) for b in second.content] == [("get_chunk", {"id": 7})]
    answer_claude_calls(second, messages, "llamas hum")

    third = ask_claude(claude, messages)
    assert third.stop_reason == "end_turn"
    assert [(b.type, getattr(b, "text", None)) for b in third.content] == [("text", "done")]

    messages.append({"role": "user", "content": "again"})
    again = ask_claude(claude, messages)
    assert again.content[0].type == "tool_use"
    assert again.content[0].name == "search_corpus"

    records = control.requests()
    assert [r["turn"] for r in records] == [0, 1, 2, 0]
    # Every tool result since the last user message, not only the last round's.
    assert [r["tool_results"] for r in records] == [
        [],
        ["chunk 7 matches"],
        ["chunk 7 matches", "llamas hum"],
        [],
    ]


def test_anthropic_streaming_follows_turns(claude: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": "go " + LOOP}]
    answer_claude_calls(ask_claude(claude, messages), messages, "r")
    with claude.messages.stream(model="m", max_tokens=50, messages=messages) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use"
    assert (final.content[0].name, final.content[0].input) == ("get_chunk", {"id": 7})


def test_past_the_end_repeats_the_last_entry_forever(
    oai: openai.OpenAI, control: EmulatorControl
) -> None:
    forever = directive(turns=[{"reply": "start"}, {"tool_calls": [SEARCH]}])
    messages: list[Any] = [{"role": "user", "content": "loop " + forever}]
    assert ask_openai(oai, messages).message.content == "start"
    for round_no in range(5):
        messages.append({"role": "tool", "tool_call_id": f"call_{round_no}", "content": "x"})
        choice = ask_openai(oai, messages)
        assert choice.finish_reason == "tool_calls"
        assert choice.message.tool_calls[0].function.name == "search_corpus"
    assert [r["turn"] for r in control.requests()] == [0, 1, 2, 3, 4, 5]


def test_entry_without_reply_answers_with_the_default_tool_results_text(
    oai: openai.OpenAI,
) -> None:
    loop = directive(turns=[{"tool_calls": [SEARCH, GET_CHUNK]}, {}])
    messages: list[Any] = [{"role": "user", "content": "q " + loop}]
    answer_openai_calls(ask_openai(oai, messages), messages, "res")
    final = ask_openai(oai, messages)
    assert final.message.content == "tool results: res; res"


# --- merging with the outer directive ---------------------------------------


def test_entry_fields_override_outer_fields(
    oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    loop = directive(
        reply="thinking",
        usage={"prompt_tokens": 11, "completion_tokens": 22},
        turns=[{"tool_calls": [SEARCH]}, {"reply": "done", "usage": {"completion_tokens": 3}}],
    )
    messages: list[Any] = [{"role": "user", "content": "q " + loop}]
    first = oai.chat.completions.create(model="m", messages=messages)
    assert first.choices[0].message.content == "thinking"  # outer reply kept beside the calls
    assert first.choices[0].message.tool_calls is not None
    assert first.usage is not None
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (11, 22)
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    answer_openai_calls(first.choices[0], messages, "r")
    second = oai.chat.completions.create(model="m", messages=messages)
    assert second.choices[0].message.content == "done"
    assert second.usage is not None
    assert (second.usage.prompt_tokens, second.usage.completion_tokens) == (11, 3)

    # Inherited (outer) tool calls keep the guard: they stop once results arrive.
    guarded = directive(tool_calls=[SEARCH], turns=[{}, {"reply": "answer"}])
    claude_messages: list[Any] = [{"role": "user", "content": "q " + guarded}]
    assert ask_claude(claude, claude_messages).stop_reason == "tool_use"
    claude_messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "r"}]}
    )
    last = ask_claude(claude, claude_messages)
    assert (last.stop_reason, [b.type for b in last.content]) == ("end_turn", ["text"])
    assert last.content[0].type == "text"
    assert last.content[0].text == "answer"


def test_entry_can_script_an_error_mid_loop(oai: openai.OpenAI, control: EmulatorControl) -> None:
    loop = directive(turns=[{"tool_calls": [SEARCH]}, {"status": 503, "error": "down"}])
    messages: list[Any] = [{"role": "user", "content": "q " + loop}]
    answer_openai_calls(ask_openai(oai, messages), messages, "r")
    with pytest.raises(openai.InternalServerError) as error:
        oai.chat.completions.create(model="m", messages=messages)
    assert error.value.response.json()["error"]["message"] == "down"
    assert [(r["turn"], r["status"]) for r in control.requests()] == [(0, 200), (1, 503)]


def test_scripted_behaviours_can_hold_turns(
    claude: anthropic.Anthropic, control: EmulatorControl
) -> None:
    loop = {"turns": [{"tool_calls": [SEARCH]}, {"reply": "from script"}]}
    assert control.script(loop, loop) == 2
    messages: list[Any] = [{"role": "user", "content": "q"}]
    answer_claude_calls(ask_claude(claude, messages), messages, "r")
    final = ask_claude(claude, messages)
    assert final.content[0].type == "text"
    assert final.content[0].text == "from script"
    assert control.script() == 0


# --- tool call ids -----------------------------------------------------------


def test_tool_call_ids_are_unique_within_and_across_requests(
    oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    loop = directive(turns=[{"tool_calls": [SEARCH, SEARCH, GET_CHUNK]}])
    messages: list[Any] = [{"role": "user", "content": "q " + loop}]
    ids: list[str] = []
    for _ in range(3):
        choice = ask_openai(oai, messages)
        ids += [call.id for call in choice.message.tool_calls]
        answer_openai_calls(choice, messages, "r")
    assert len(ids) == len(set(ids)) == 9

    claude_messages: list[Any] = [{"role": "user", "content": "q " + loop}]
    claude_ids: list[str] = []
    for _ in range(3):
        message = ask_claude(claude, claude_messages)
        claude_ids += [block.id for block in message.content if block.type == "tool_use"]
        answer_claude_calls(message, claude_messages, "r")
    assert len(claude_ids) == len(set(claude_ids)) == 9


# --- validation --------------------------------------------------------------

INVALID_TURNS = [
    pytest.param({"turns": {"reply": "x"}}, "must be a non-empty list", id="not-a-list"),
    pytest.param({"turns": []}, "must be a non-empty list", id="empty"),
    pytest.param({"turns": [{}, "x"]}, "turns[1] must be an object", id="entry-not-object"),
    pytest.param({"turns": [{"turns": [{}]}]}, "turns[0] must not hold", id="nested"),
    pytest.param({"turns": [{"replay": "x"}]}, "turns[0]: unknown", id="unknown-field"),
    pytest.param({"turns": [{"status": 200}]}, "turns[0]: ", id="invalid-field"),
]


@pytest.mark.parametrize(("fields", "message"), INVALID_TURNS)
def test_invalid_turns_are_400_in_each_protocol_shape(
    emulator_url: str, control: EmulatorControl, fields: dict[str, Any], message: str
) -> None:
    content = "q " + directive(**fields)
    status, error = post_raw(
        emulator_url + "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": content}]},
        {"authorization": "Bearer k"},
    )
    assert status == 400
    assert error["error"]["type"] == "invalid_request_error"
    assert message in error["error"]["message"]
    status, error = post_raw(
        emulator_url + "/v1/messages",
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": content}]},
        {"x-api-key": "k"},
    )
    assert status == 400
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert message in error["error"]["message"]
    # The directive was bad, not the request: its position is still recorded.
    assert [(r["status"], r["turn"], r["tool_results"]) for r in control.requests()] == [
        (400, 0, []),
        (400, 0, []),
    ]
    with pytest.raises(urllib.error.HTTPError) as rejected:
        control.script(fields)
    with rejected.value:
        assert rejected.value.code == 400
    assert control.script() == 0


def test_turns_parse_into_entries() -> None:
    parsed = find_directive([LOOP])
    assert parsed == Directive(
        turns=(
            Directive(tool_calls=(ToolCall("search_corpus", {"query": "llamas"}),)),
            Directive(tool_calls=(ToolCall("get_chunk", {"id": 7}),)),
            Directive(reply="done"),
        )
    )
    with pytest.raises(DirectiveError, match="turns"):
        Directive.from_json({"turns": [{"usage": {"prompt_tokens": -1}}]})


def test_decide_picks_and_merges_the_entry_without_http() -> None:
    outer = Directive(
        latency_ms=5, finish_reason="length", turns=(Directive(reply="a"), Directive(reply="b"))
    )
    picked = [decide(Turn("m", (), "", index=i), outer) for i in range(4)]
    assert [d.text for d in picked] == ["a", "b", "b", "b"]
    assert {(d.latency_ms, d.finish_reason) for d in picked} == {(5, "length")}
    assert Directive(reply="x").turn_entry(3) is None


# --- records -----------------------------------------------------------------


def test_records_carry_turn_and_tool_results_for_every_request(
    emulator_url: str,
    oai: openai.OpenAI,
    claude: anthropic.Anthropic,
    control: EmulatorControl,
) -> None:
    long_error = "E" * (RECORDED_TOOL_RESULT_CHARS + 500)
    # No directive at all: turn and tool_results are still recorded.
    oai.chat.completions.create(
        model="m",
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"},
            {"role": "assistant", "content": "calling"},
            {"role": "tool", "tool_call_id": "a", "content": "tool error: no such chunk"},
            {"role": "assistant", "content": "thinking"},
            {"role": "tool", "tool_call_id": "b", "content": long_error},
        ],
    )
    claude.messages.create(
        model="m",
        max_tokens=5,
        messages=[
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "calling"},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "a", "content": "one"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "b",
                        "content": [{"type": "text", "text": "two"}],
                    },
                ],
            },
        ],
    )
    # A request that cannot be parsed has no position.
    status, _ = post_raw(emulator_url + "/v1/messages", {"model": "m"}, {"x-api-key": "k"})
    assert status == 400

    openai_record, claude_record, bad_record = control.requests()
    assert openai_record["turn"] == 2
    assert openai_record["tool_results"] == [
        "tool error: no such chunk",
        "E" * RECORDED_TOOL_RESULT_CHARS,
    ]
    assert (claude_record["turn"], claude_record["tool_results"]) == (1, ["one", "two"])
    assert (bad_record["turn"], bad_record["tool_results"]) == (None, None)
    # Existing fields are kept.
    assert {"t", "protocol", "path", "model", "body", "status", "usage", "t_done"} <= set(
        openai_record
    )
