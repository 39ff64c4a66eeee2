"""Reading an OpenAI SDK chat stream back into what it streamed, for tests."""

from __future__ import annotations

from collections.abc import Iterable

from openai.types.chat import ChatCompletionChunk


def streamed_tool_calls(
    chunks: Iterable[ChatCompletionChunk],
) -> tuple[dict[int, dict[str, str]], str | None]:
    """The tool calls the chunks' deltas add up to, by index (``id``, ``name`` and
    ``arguments`` concatenated as streamed), and the last finish reason."""
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            if delta.function is not None:
                entry["name"] += delta.function.name or ""
                entry["arguments"] += delta.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    return calls, finish
