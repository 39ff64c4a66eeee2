"""Control API, streaming and auxiliary endpoints, over real HTTP with the official SDKs."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import anthropic
import openai
import pytest

from emulator import EmulatorControl, directive

WEATHER = [{"name": "get_weather", "arguments": {"city": "Paris"}}]


def test_health(control: EmulatorControl) -> None:
    assert control.health()


def test_requests_are_recorded_and_cleared(
    oai: openai.OpenAI, claude: anthropic.Anthropic, control: EmulatorControl
) -> None:
    before = time.time()
    oai.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "a"}])
    claude.messages.create(
        model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "b"}]
    )
    records = control.requests()
    assert [(r["protocol"], r["path"], r["model"], r["status"]) for r in records] == [
        ("openai", "/v1/chat/completions", "gpt-x", 200),
        ("anthropic", "/v1/messages", "claude-x", 200),
    ]
    assert records[0]["body"]["messages"] == [{"role": "user", "content": "a"}]
    assert records[1]["body"]["max_tokens"] == 5
    assert before <= records[0]["t"] <= records[1]["t"] <= time.time()
    control.clear_requests()
    assert control.requests() == []


def test_script_is_fifo_and_beats_in_text_directives(
    oai: openai.OpenAI, claude: anthropic.Anthropic, control: EmulatorControl
) -> None:
    assert control.script({"reply": "first"}, {"status": 429, "retry_after": 1.5}) == 2
    assert control.script({"reply": "third"}) == 3
    in_text = 'hi <<emulator:{"reply": "in text"}>>'

    def ask() -> str | None:
        result = oai.chat.completions.create(
            model="m", messages=[{"role": "user", "content": in_text}]
        )
        return result.choices[0].message.content

    assert ask() == "first"
    with pytest.raises(openai.RateLimitError) as error:
        ask()
    assert error.value.response.headers["retry-after"] == "1.5"
    # The queue is shared by all protocols.
    message = claude.messages.create(
        model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "third"
    assert ask() == "in text"  # queue drained: back to the in-text directive
    assert [r["status"] for r in control.requests()] == [200, 429, 200, 200]


def test_script_clear_and_validation(
    emulator_url: str, oai: openai.OpenAI, control: EmulatorControl
) -> None:
    control.script({"reply": "never"})
    control.clear_script()
    result = oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert result.choices[0].message.content == "echo: x"

    body = json.dumps({"behaviours": [{"reply": "ok"}, {"status": 200}]}).encode()
    request = urllib.request.Request(emulator_url + "/_emulator/script", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    with error.value:
        assert error.value.code == 400
        assert "status" in json.loads(error.value.read())["error"]
    assert control.script() == 0  # nothing of the invalid batch was queued


def test_openai_streaming_text_and_usage(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hello streaming world"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: hello streaming world"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 7


def test_openai_streaming_tool_calls(oai: openai.OpenAI) -> None:
    content = "w " + directive(tool_calls=WEATHER)
    stream = oai.chat.completions.create(
        model="m", messages=[{"role": "user", "content": content}], stream=True
    )
    chunks = list(stream)
    fragments = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    # As OpenAI streams a call: id and name first, then the arguments in several pieces.
    assert len(fragments) > 2
    assert {f.index for f in fragments} == {0}
    assert [f.id is not None for f in fragments] == [True] + [False] * (len(fragments) - 1)
    assert all(f.function is not None for f in fragments)
    assert fragments[0].function and fragments[0].function.name == "get_weather"
    arguments = "".join((f.function.arguments or "") if f.function else "" for f in fragments)
    assert json.loads(arguments) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_anthropic_streaming(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model="m", max_tokens=50, messages=[{"role": "user", "content": "hello streaming"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: hello streaming"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 6

    content = "w " + directive(tool_calls=WEATHER)
    with claude.messages.stream(
        model="m", max_tokens=50, messages=[{"role": "user", "content": content}]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use"
    assert final.content[0].input == {"city": "Paris"}


def test_streaming_errors_are_plain_json(oai: openai.OpenAI) -> None:
    content = '<<emulator:{"status": 503}>>'
    with pytest.raises(openai.InternalServerError) as error:
        oai.chat.completions.create(
            model="m", messages=[{"role": "user", "content": content}], stream=True
        )
    assert error.value.status_code == 503


def test_openai_models_list(oai: openai.OpenAI) -> None:
    models = [model.id for model in oai.models.list()]
    assert "gpt-4o-mini" in models
