"""Unit tests of the protocol-neutral pieces: directives, decisions, the registry."""

from __future__ import annotations

import pytest

from emulator import directive
from emulator.behaviour import ErrorReply, Turn, decide
from emulator.directives import (
    Directive,
    DirectiveError,
    ToolCall,
    find_directive,
    strip_directives,
)
from emulator.protocols import OpenAIChat, ProtocolRegistry, default_registry
from emulator.protocols.base import split_for_stream


def test_directive_json_may_contain_closing_marker_and_spaces() -> None:
    text = 'a <<emulator: {"reply": "x >> y"} >> b'
    directive = find_directive([text])
    assert directive == Directive(reply="x >> y")
    assert strip_directives(text) == "a  b"


def test_last_directive_wins_across_texts() -> None:
    texts = ['<<emulator:{"reply": "1"}>>', 'x <<emulator:{"reply": "2"}>><<emulator:{}>>']
    assert find_directive(texts) == Directive()
    assert find_directive(texts[:1]) == Directive(reply="1")
    assert find_directive(["no directive"]) is None


@pytest.mark.parametrize(
    "text",
    [
        "<<emulator:{nope}>>",
        '<<emulator:{"reply": "x"}',
        "<<emulator:[1]>>",
        '<<emulator:{"unknown": 1}>>',
        '<<emulator:{"status": 200}>>',
        '<<emulator:{"status": true}>>',
        '<<emulator:{"latency_ms": -1}>>',
        '<<emulator:{"finish_reason": "weird"}>>',
        '<<emulator:{"tool_calls": [{"arguments": {}}]}>>',
        '<<emulator:{"usage": 3}>>',
    ],
)
def test_invalid_directives(text: str) -> None:
    with pytest.raises(DirectiveError, match=r"emulator directive|tool call|finish_reason"):
        find_directive([text])


def test_directive_helper_round_trips() -> None:
    assert find_directive([directive(reply="a >> b", latency_ms=3)]) == Directive(
        reply="a >> b", latency_ms=3
    )


def test_finish_reason_aliases() -> None:
    assert Directive.from_json({"finish_reason": "max_tokens"}).finish_reason == "length"
    assert Directive.from_json({"finish_reason": "tool_use"}).finish_reason == "tool_calls"


def test_decide_counts_tokens() -> None:
    turn = Turn(model="m", texts=("12345", "abc"), last_user_text="abc")
    decision = decide(turn, None)
    assert decision.text == "echo: abc"
    assert (decision.prompt_tokens, decision.completion_tokens) == (2, 3)
    call = ToolCall("f", {"a": 1})
    tool_decision = decide(turn, Directive(tool_calls=(call,)))
    assert tool_decision.text is None
    assert tool_decision.finish_reason == "tool_calls"
    # "f" + '{"a":1}' = 8 chars -> 2 tokens
    assert tool_decision.completion_tokens == 2


def test_decide_error_and_retry_after_header() -> None:
    turn = Turn(model="m", texts=(), last_user_text="")
    decision = decide(turn, Directive(status=529, latency_ms=5))
    assert decision.error == ErrorReply(529, "Error (emulated)")
    assert decision.latency_ms == 5
    assert ErrorReply(429, "x", 2.0).headers() == {"retry-after": "2"}
    assert ErrorReply(429, "x", 0.5).headers() == {"retry-after": "0.5"}
    assert ErrorReply(500, "x").headers() == {}


def test_split_for_stream_round_trips() -> None:
    for text in ["", "a", " lead and  trail ", "echo: hello world"]:
        assert "".join(split_for_stream(text)) == text
    assert split_for_stream("a b") == ["a ", "b"]


def test_registry_rejects_duplicates() -> None:
    registry = default_registry()
    assert {p.name for p in registry} == {
        "openai",
        "anthropic",
        "bedrock",
        "azure_openai",
        "vertex",
        "vertex_anthropic",
        "ollama",
        "watsonx",
        "oci",
    }
    assert registry.get("openai").path == "/v1/chat/completions"
    with pytest.raises(ValueError, match="already registered"):
        registry.register(OpenAIChat())

    class OtherName(OpenAIChat):
        name = "other"

    with pytest.raises(ValueError, match="already served"):
        ProtocolRegistry([OpenAIChat(), OtherName()])
