"""The steps of an ``enhancement`` job and what each one asks the model.

1. ``gather``: the model searches with the request's tools (a tool loop; at
   ``max_iterations`` it is asked to answer instead of failing);
2. ``enhance``: the model returns the whole enhanced document;
3. ``check``: the gateway's deterministic checks (``tasks.kinds.enhancement.checks``);
4. ``review`` (optional): the model reviews the result against the original and the
   checks, answering JSON.

Every step continues one conversation; each offers the same tools (providers refuse a
history with tool calls and no tool definitions), steps after ``gather`` with
``tool_choice: "none"``.
"""

from __future__ import annotations

from typing import Any

from providers.openai_format import chat_request_from_openai
from providers.types import ChatRequest
from tasks.kinds.enhancement.request import EnhancementRequest
from tasks.loops.state import with_gateway_definitions
from tasks.prompts.templates import PromptTemplates
from tools.registry import ToolRegistry

KIND = "enhancement"
GATHER, ENHANCE, CHECK, REVIEW, DONE = "gather", "enhance", "check", "review", "done"


def prompt_version(prompts: PromptTemplates, version: str | None) -> str:
    """The version to use (None: the latest); ``InvalidRequest`` for an unknown one."""
    chosen = version or prompts.latest(KIND)
    prompts.description(KIND, chosen)
    return chosen


def enhancement_chat(
    parsed: EnhancementRequest, tools: ToolRegistry, *, step: str = GATHER
) -> ChatRequest:
    """The chat request of one step, without messages (the runner adds the conversation):
    the request's tools described by the registry, its output options."""
    body: dict[str, Any] = {
        "model": parsed.model,
        "messages": [{"role": "user", "content": "-"}],
    }
    if parsed.options.tools:
        body["tools"] = [
            {"type": "function", "function": {"name": name}} for name in parsed.options.tools
        ]
        if step != GATHER:
            body["tool_choice"] = "none"
    if parsed.options.max_output_tokens is not None:
        body["max_tokens"] = parsed.options.max_output_tokens
    if parsed.options.temperature is not None:
        body["temperature"] = parsed.options.temperature
    return with_gateway_definitions(chat_request_from_openai(body), tools)
