"""The enhancer persona: the emulator plays a plausible model for the gateway's enhancement
prompts (rendered by the real templates), through the official SDKs, while directives,
scripts and other system prompts keep their usual replies."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from emulator import EmulatorControl, directive
from emulator.downstream_content import search
from emulator.enhancer import offered_tools
from tasks.kinds.enhancement.checks import (
    check_enhancement,
    citations_of,
    parse_review,
    returned_chunk_ids,
    unwrap_document,
)
from tasks.prompts.templates import PromptTemplates

DOCUMENT = """# Tool loops

The worker runs the model's tool calls and sends the results back.

## Limits

A loop stops after max_iterations rounds.
"""
SEARCH_SCHEMA = {
    "type": "object",
    "properties": {"query": {"type": "string"}, "top_k": {"type": "integer"}},
    "required": ["query"],
}
OPENAI_TOOLS: list[Any] = [
    {"type": "function", "function": {"name": n, "parameters": SEARCH_SCHEMA}}
    for n in ("search_corpus", "get_chunk")
]
CLAUDE_TOOLS: list[Any] = [{"name": "search_corpus", "input_schema": SEARCH_SCHEMA}]
PROMPTS = PromptTemplates()


def prompt(step: str, document: str = DOCUMENT, checks: list[Any] | None = None) -> Any:
    return PROMPTS.render(
        "enhancement",
        "v1",
        step,
        document=document,
        title="Tool loops",
        name="loops.md",
        tools=["search_corpus", "get_chunk"],
        checks=checks or [],
        max_iterations=3,
    )


def search_result(query: str, top_k: int = 3) -> str:
    """What the gateway sends back for a search_corpus call (ToolOutcome.as_content)."""
    output = {"query": query, "collection": None, "results": search(query, top_k, None)}
    return json.dumps({"output": output})


class OpenAIConversation:
    """One enhancement conversation over the OpenAI SDK, as the runner would hold it."""

    def __init__(self, oai: openai.OpenAI, document: str = DOCUMENT) -> None:
        self.oai = oai
        self.document = document
        self.messages: list[Any] = [{"role": "system", "content": prompt("gather").system}]
        self.tool_contents: list[str] = []

    def ask(self, step: str, **create: Any) -> Any:
        user = prompt(step, self.document).user
        self.messages.append({"role": "user", "content": user})
        return self.call(**create)

    def call(self, **create: Any) -> Any:
        completion = self.oai.chat.completions.create(
            model="m", messages=self.messages, tools=OPENAI_TOOLS, **create
        )
        self.messages.append(completion.choices[0].message.model_dump(exclude_none=True))
        return completion

    def answer_tools(self, completion: Any, content: str | None = None) -> None:
        for call in completion.choices[0].message.tool_calls:
            query = json.loads(call.function.arguments)["query"]
            result = search_result(query) if content is None else content
            self.tool_contents.append(result)
            self.messages.append({"role": "tool", "tool_call_id": call.id, "content": result})


@pytest.fixture
def conversation(oai: openai.OpenAI) -> OpenAIConversation:
    return OpenAIConversation(oai)


def test_openai_gather_calls_search_corpus_with_the_title(
    conversation: OpenAIConversation,
) -> None:
    completion = conversation.ask("gather")
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.function.name == "search_corpus"
    assert json.loads(call.function.arguments) == {"query": "Tool loops", "top_k": 3}


def test_openai_gather_answers_notes_once_results_arrive(
    conversation: OpenAIConversation,
) -> None:
    conversation.answer_tools(conversation.ask("gather"))
    notes = conversation.call().choices[0]
    assert notes.finish_reason == "stop"
    assert notes.message.content == (
        "Chunks worth citing:\n- chunk-004: docs/tools.md\n- chunk-011: tools/executor.py"
    )


def test_openai_full_conversation_passes_the_gateway_checks(
    conversation: OpenAIConversation,
) -> None:
    conversation.answer_tools(conversation.ask("gather"))
    conversation.call()
    enhance = conversation.ask("enhance")
    enhanced = unwrap_document(enhance.choices[0].message.content)
    assert enhanced.startswith(DOCUMENT.rstrip() + "\n\n## Related material\n\n- Tool loops:")
    assert "[^chunk-004]: docs/tools.md\n[^chunk-011]: tools/executor.py\n" in enhanced
    returned = returned_chunk_ids(conversation.tool_contents)
    checks = check_enhancement(DOCUMENT, enhanced, returned)
    assert all(check.passed for check in checks), [c.public() for c in checks]
    assert citations_of(DOCUMENT, enhanced) == ["chunk-004", "chunk-011"]
    # Usage is counted as for every other reply: ceil(characters / 4).
    assert enhance.usage.completion_tokens == math.ceil(len(enhanced) / 4)

    checks_data = [check.public() for check in checks]
    conversation.messages.append(
        {"role": "user", "content": prompt("review", checks=checks_data).user}
    )
    review = conversation.call().choices[0].message.content
    assert parse_review(review) == {"approved": True, "issues": [], "error": None}


def test_openai_enhance_streams_the_same_document(conversation: OpenAIConversation) -> None:
    conversation.answer_tools(conversation.ask("gather"))
    conversation.call()
    plain = conversation.ask("enhance").choices[0].message.content
    conversation.messages.pop()
    stream: Any = conversation.oai.chat.completions.create(
        model="m", messages=conversation.messages, tools=OPENAI_TOOLS, stream=True
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream) == plain


def test_enhance_cites_at_most_three_chunks_even_from_clipped_results(
    conversation: OpenAIConversation,
) -> None:
    results = [search_result("tool")[:-40] + "... [truncated: 999 characters, 960 kept]"]
    results.append(search_result("redis webhooks circuit"))
    completion = conversation.ask("gather")
    for content in results:
        conversation.answer_tools(completion, content)
    conversation.call()
    enhanced = conversation.ask("enhance").choices[0].message.content
    cited = citations_of(DOCUMENT, enhanced)
    assert len(cited) == 3
    checks = check_enhancement(DOCUMENT, enhanced, returned_chunk_ids(conversation.tool_contents))
    assert all(check.passed for check in checks), [c.public() for c in checks]
    # Ids from clipped JSON are cited without a known source.
    assert f"[^{cited[0]}]: corpus chunk {cited[0]}" in enhanced


def test_enhance_without_chunks_says_nothing_was_found(
    conversation: OpenAIConversation,
) -> None:
    conversation.answer_tools(conversation.ask("gather"), search_result("zebra"))
    assert conversation.call().choices[0].message.content == "No relevant material found."
    enhanced = conversation.ask("enhance").choices[0].message.content
    assert enhanced == (
        DOCUMENT.rstrip() + "\n\n## Related material\n\nNo related material was found.\n"
    )
    assert all(c.passed for c in check_enhancement(DOCUMENT, enhanced, set()))


def test_gather_without_search_corpus_offered_answers_notes(oai: openai.OpenAI) -> None:
    rendered = prompt("gather")
    completion = oai.chat.completions.create(
        model="m",
        messages=[
            {"role": "system", "content": rendered.system},
            {"role": "user", "content": rendered.user},
        ],
    )
    assert completion.choices[0].message.content == "No relevant material found."


def test_gather_queries_the_first_words_of_a_document_without_headings(oai: openai.OpenAI) -> None:
    conversation = OpenAIConversation(oai, "one two three four five six seven eight nine ten\n")
    call = conversation.ask("gather").choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments)["query"] == "one two three four five six seven eight"


def test_claude_plays_every_step(claude: anthropic.Anthropic) -> None:
    system = prompt("gather").system
    messages: list[Any] = [{"role": "user", "content": prompt("gather").user}]

    def ask() -> Any:
        message = claude.messages.create(
            model="m", max_tokens=4000, system=system, messages=messages, tools=CLAUDE_TOOLS
        )
        messages.append({"role": "assistant", "content": [b.model_dump() for b in message.content]})
        return message

    gather = ask()
    assert gather.stop_reason == "tool_use"
    [use] = [block for block in gather.content if block.type == "tool_use"]
    assert (use.name, use.input) == ("search_corpus", {"query": "Tool loops", "top_k": 3})
    result = search_result(use.input["query"])
    blocks = [{"type": "tool_result", "tool_use_id": use.id, "content": result}]
    messages.append({"role": "user", "content": blocks})
    assert "chunk-004" in ask().content[0].text

    messages.append({"role": "user", "content": prompt("enhance").user})
    enhance = ask()
    enhanced = enhance.content[0].text
    checks = check_enhancement(DOCUMENT, enhanced, returned_chunk_ids([result]))
    assert all(check.passed for check in checks), [c.public() for c in checks]
    assert citations_of(DOCUMENT, enhanced) == ["chunk-004", "chunk-011"]
    assert enhance.usage.output_tokens == math.ceil(len(enhanced) / 4)

    messages.append({"role": "user", "content": prompt("review").user})
    assert parse_review(ask().content[0].text)["approved"] is True


@pytest.fixture
def http(emulator_url: str, control: EmulatorControl) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator_url, timeout=10) as client:
        yield client


def test_ollama_gather_calls_search_corpus(http: httpx.Client) -> None:
    rendered = prompt("gather")
    body = {
        "model": "llama3.2",
        "stream": False,
        "messages": [
            {"role": "system", "content": rendered.system},
            {"role": "user", "content": rendered.user},
        ],
        "tools": OPENAI_TOOLS,
    }
    message = http.post("/api/chat", json=body).json()["message"]
    assert message["tool_calls"] == [
        {"function": {"name": "search_corpus", "arguments": {"query": "Tool loops", "top_k": 3}}}
    ]


def test_a_directive_in_the_document_wins_over_the_persona(
    oai: openai.OpenAI,
) -> None:
    scripted = DOCUMENT + "\n" + directive(reply="scripted reply") + "\n"
    completion = OpenAIConversation(oai, scripted).ask("gather")
    assert completion.choices[0].message.content == "scripted reply"
    assert completion.choices[0].message.tool_calls is None


def test_a_scripted_behaviour_wins_over_the_persona(
    conversation: OpenAIConversation, control: EmulatorControl
) -> None:
    control.script({"reply": "from the control API"})
    assert conversation.ask("gather").choices[0].message.content == "from the control API"


def test_a_system_prompt_without_the_marker_gets_the_default_reply(oai: openai.OpenAI) -> None:
    user = prompt("gather").user
    completion = oai.chat.completions.create(
        model="m",
        messages=[
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": user},
        ],
        tools=OPENAI_TOOLS,
    )
    assert completion.choices[0].message.content == "echo: " + user.strip()


def test_a_user_message_without_a_step_marker_gets_the_default_reply(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="m",
        messages=[
            {"role": "system", "content": prompt("gather").system},
            {"role": "user", "content": "hello"},
        ],
    )
    assert completion.choices[0].message.content == "echo: hello"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"tools": [{"type": "function", "function": {"name": "t"}}]}, id="openai"),
        pytest.param({"tools": [{"name": "t", "input_schema": {}}]}, id="anthropic"),
        pytest.param({"tools": [{"functionDeclarations": [{"name": "t"}]}]}, id="vertex"),
        pytest.param({"tools": [{"function_declarations": [{"name": "t"}]}]}, id="vertex-snake"),
        pytest.param({"toolConfig": {"tools": [{"toolSpec": {"name": "t"}}]}}, id="bedrock"),
        pytest.param({"chatRequest": {"tools": [{"type": "FUNCTION", "name": "t"}]}}, id="oci"),
    ],
)
def test_offered_tools_reads_every_protocols_tool_shape(body: dict[str, Any]) -> None:
    assert offered_tools(body) == {"t"}


def test_offered_tools_ignores_malformed_entries() -> None:
    assert offered_tools({"tools": ["x", {"function": "y"}], "toolConfig": []}) == set()
