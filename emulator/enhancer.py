"""The enhancer persona: a plausible model for the gateway's enhancement prompts.

Used only for a request with no directive (in-text or scripted) whose first text (the
system prompt: every protocol puts it first) starts with ``llm-gateway-prompt:
enhancement/``; every other request keeps the default reply. It answers the step named
by the last user message's first line (the markers of :mod:`tasks.prompts.templates`):

- ``[enhancement step: gather]``: while no tool result follows that message and the
  request offers ``search_corpus``, call it with the document's first heading (else its
  first 8 words) and ``top_k`` 3; afterwards, short notes listing the chunk ids seen.
- ``[enhancement step: enhance]``: the document (between the lines ``<document>`` and
  ``</document>``) plus a ``## Related material`` section citing up to 3 chunks seen in the
  conversation's tool results as ``[^<chunk_id>]`` footnotes, defined with their source.
- ``[enhancement step: review]``: ``{"approved": true, "issues": []}``.

The reply is returned as a :class:`~emulator.directives.Directive`, so usage is counted
exactly as for scripted replies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from emulator.behaviour import Turn
from emulator.directives import Directive, ToolCall

SYSTEM_PREFIX = "llm-gateway-prompt: enhancement/"
STEP_PREFIX = "[enhancement step: "
REVIEW_REPLY = '{"approved": true, "issues": []}'
MAX_CITED = 3
SEARCH_TOP_K = 3
QUERY_WORDS = 8
_CHUNK_ID = re.compile(r'"chunk_id"\s*:\s*"([^"\\]+)"')
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_SNIPPET_CHARS = 160


def persona_directive(turn: Turn) -> Directive | None:
    """The persona's reply to ``turn``, or None when the persona does not apply."""
    if not turn.texts or not turn.texts[0].startswith(SYSTEM_PREFIX):
        return None
    first_line = turn.last_user_text.lstrip().partition("\n")[0].strip()
    if first_line == STEP_PREFIX + "gather]":
        return _gather(turn)
    if first_line == STEP_PREFIX + "enhance]":
        return Directive(reply=_enhanced(turn))
    if first_line == STEP_PREFIX + "review]":
        return Directive(reply=REVIEW_REPLY)
    return None


def offered_tools(body: Mapping[str, Any]) -> set[str]:
    """Names of the tools a request offers, in any emulated protocol's shape.

    ``tools`` holds ``{"function": {"name"}}`` (OpenAI, Azure, Ollama, watsonx), ``{"name"}``
    (Anthropic) or ``{"functionDeclarations": [{"name"}]}`` (Vertex); Bedrock uses
    ``toolConfig.tools`` (``{"toolSpec": {"name"}}``), OCI ``chatRequest.tools`` (``{"name"}``).
    """
    lists = (body.get("tools"), _member(body, "toolConfig"), _member(body, "chatRequest"))
    names: set[str] = set()
    for tools in lists:
        for tool in tools if isinstance(tools, list) else []:
            if not isinstance(tool, dict):
                continue
            declarations = tool.get("functionDeclarations") or tool.get("function_declarations")
            entries = [tool, tool.get("function"), tool.get("toolSpec")]
            entries += declarations if isinstance(declarations, list) else []
            names.update(
                e["name"] for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)
            )
    return names


def _member(body: Mapping[str, Any], key: str) -> object:
    outer = body.get(key)
    return outer.get("tools") if isinstance(outer, dict) else None


def _gather(turn: Turn) -> Directive:
    query = _query(_document(turn.texts))
    if not turn.tool_results and query and "search_corpus" in offered_tools(turn.body):
        call = ToolCall("search_corpus", {"query": query, "top_k": SEARCH_TOP_K})
        return Directive(tool_calls=(call,))
    seen = _seen_chunks(turn.tool_results)
    if not seen:
        return Directive(reply="No relevant material found.")
    lines = [
        f"- {chunk_id}: {source or 'unknown source'}" for chunk_id, (source, _) in seen.items()
    ]
    return Directive(reply="Chunks worth citing:\n" + "\n".join(lines))


def _enhanced(turn: Turn) -> str:
    document = _document(turn.texts).rstrip()
    prompts = (SYSTEM_PREFIX, STEP_PREFIX)
    results = [text for text in turn.texts if not text.lstrip().startswith(prompts)]
    cited = list(_seen_chunks(results).items())[:MAX_CITED]
    if not cited:
        return document + "\n\n## Related material\n\nNo related material was found.\n"
    bullets = [
        f"- {_snippet(text, source, chunk_id)}[^{chunk_id}]" for chunk_id, (source, text) in cited
    ]
    notes = [
        f"[^{chunk_id}]: {source or 'corpus chunk ' + chunk_id}" for chunk_id, (source, _) in cited
    ]
    section = "\n".join(["## Related material", "", *bullets, "", *notes])
    return document + "\n\n" + section + "\n"


def _document(texts: Iterable[str]) -> str:
    """The text between the first ``<document>`` line and the last ``</document>`` line
    of the first text holding both; empty when none does."""
    for text in texts:
        lines = text.splitlines()
        if "<document>" in lines and "</document>" in lines:
            start = lines.index("<document>") + 1
            end = len(lines) - 1 - lines[::-1].index("</document>")
            if start <= end:
                return "\n".join(lines[start:end])
    return ""


def _query(document: str) -> str:
    heading = _HEADING.search(document)
    if heading:
        return heading.group(1).strip()
    return " ".join(document.split()[:QUERY_WORDS])


def _seen_chunks(texts: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``chunk_id -> (source, text)`` for the chunks named in tool results, first seen first.
    Clipped JSON (a truncated tool result) still yields its ids, without source or text."""
    seen: dict[str, tuple[str, str]] = {}
    for text in texts:
        try:
            chunks = list(_chunks_in(json.loads(text)))
        except ValueError:
            chunks = [(chunk_id, "", "") for chunk_id in _CHUNK_ID.findall(text)]
        for chunk_id, source, body in chunks:
            seen.setdefault(chunk_id, (source, body))
    return seen


def _chunks_in(value: object) -> Iterator[tuple[str, str, str]]:
    if isinstance(value, dict):
        if isinstance(value.get("chunk_id"), str):
            source, text = value.get("source"), value.get("text")
            yield (
                value["chunk_id"],
                source if isinstance(source, str) else "",
                text if isinstance(text, str) else "",
            )
        for member in value.values():
            yield from _chunks_in(member)
    elif isinstance(value, list):
        for item in value:
            yield from _chunks_in(item)


def _snippet(text: str, source: str, chunk_id: str) -> str:
    # Brackets could open links or footnotes; the bullet must stay plain text.
    flat = " ".join(text.replace("[", "(").replace("]", ")").split())
    if len(flat) > _SNIPPET_CHARS:
        flat = flat[: _SNIPPET_CHARS - 3].rstrip() + "..."
    return flat or f"See {source or 'chunk ' + chunk_id}"
