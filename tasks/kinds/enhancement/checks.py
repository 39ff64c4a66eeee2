"""Deterministic checks of an enhancement job's output (pure: no I/O).

A *citation* is a Markdown footnote ``[^<chunk_id>]`` (defined by a line
``[^<chunk_id>]: <source>``) whose label was not already a footnote label of the original
document, so a document's own footnotes (``[^1]``) never count. :func:`check_enhancement`
runs, in order: ``markdown`` (parses, closed fences, defined footnotes, no empty link
targets), ``sections`` (every original heading is still a heading), ``citations`` (every
cited chunk id came back from a tool) and ``content`` (most original words are kept).
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

# Also matches the escaped form (\"chunk_id\": \"x\") of JSON nested in a JSON string.
_CHUNK_ID = re.compile(r'\\?"chunk_id\\?"\s*:\s*\\?"([^"\\]+)\\?"')
_FOOTNOTE_REF = re.compile(r"\[\^([^\]\s]+)\]")
_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")
_WRAPPER_INFOS = frozenset({"", "markdown", "md"})
_REVIEW_FENCE = re.compile(r"```(?:json)?[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL | re.IGNORECASE)
_DROPPED_WORDS_SHOWN = 20


@dataclass(frozen=True)
class Check:
    """One deterministic check: its verdict, a one-line detail and the offending items."""

    name: str
    passed: bool
    detail: str
    items: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        """The check as JSON-ready data (for job records and the review prompt)."""
        return {
            "name": self.name,
            "passed": self.passed,
            "detail": self.detail,
            "items": list(self.items),
        }


@dataclass(frozen=True)
class _Parsed:
    """A document parsed once: its tokens, the footnote environment and its lines."""

    tokens: list[Token]
    env: dict[str, Any]
    lines: list[str]


@functools.cache
def _markdown() -> MarkdownIt:
    # Built once: building a parser costs more than parsing a short document, and parse()
    # keeps its state per call (safe from many threads).
    return MarkdownIt("commonmark").use(footnote_plugin)


def _parse(text: str) -> _Parsed:
    env: dict[str, Any] = {}
    tokens = _markdown().parse(text, env)
    return _Parsed(tokens, env, text.splitlines())


def _children(parsed: _Parsed) -> Iterator[Token]:
    for token in parsed.tokens:
        yield from token.children or ()


def _references(parsed: _Parsed) -> Iterator[str]:
    """Footnote labels referenced, in document order; undefined ones stay plain text."""
    for child in _children(parsed):
        if child.type == "footnote_ref":
            yield str(child.meta["label"])
        elif child.type == "text":
            yield from _FOOTNOTE_REF.findall(child.content)


def _definitions(parsed: _Parsed) -> list[str]:
    refs = parsed.env.get("footnotes", {}).get("refs", {})
    return [key[1:] for key in refs]  # keys are ":<label>"


def _labels(parsed: _Parsed) -> list[str]:
    """Footnote labels: references in document order, then definitions nobody references."""
    return list(dict.fromkeys([*_references(parsed), *_definitions(parsed)]))


def returned_chunk_ids(tool_contents: Iterable[str]) -> set[str]:
    """Chunk ids named in tool results; a regex, so clipped (truncated) JSON still counts."""
    return {match for content in tool_contents for match in _CHUNK_ID.findall(content)}


def citations_of(original: str, enhanced: str) -> list[str]:
    """The enhanced document's citation labels, in order of first appearance."""
    own = set(_labels(_parse(original)))
    return [label for label in _labels(_parse(enhanced)) if label not in own]


@functools.lru_cache(maxsize=256)
def document_title(document: str, name: str = "") -> str:
    """The document's first heading as plain text, else ``name``."""
    headings = _headings(_parse(document))
    return headings[0][1] if headings else name


def unwrap_document(reply: str) -> str:
    """``reply`` without one fence enclosing all of it, else unchanged.

    Stripped: a reply that is exactly one closed fence (```` ``` ````, ``~~~``) with no info
    string or ``markdown``/``md``, optionally after ONE preamble line ending in ":" ("Here
    is the enhanced document:"). An explicit ```` ```markdown ```` opening whose last line
    closes it is stripped even when inner fences keep it from parsing as one block. Anything
    else (a bare ```` ``` ```` opening with inner fences, prose after the fence) is kept:
    the document may really start and end with code blocks.
    """
    lines = reply.strip().splitlines()
    if len(lines) > 1 and _is_preamble(lines[0]):
        body = "\n".join(lines[1:]).strip()
        inner = _fenced_content(body)
        return reply if inner is None else inner
    inner = _fenced_content("\n".join(lines))
    return reply if inner is None else inner


def _is_preamble(line: str) -> bool:
    text = line.strip()
    return text.endswith(":") and not text.startswith(("#", "`", "~", ">", "-", "*", "|"))


def _fenced_content(text: str) -> str | None:
    parsed = _parse(text)
    tokens, lines = parsed.tokens, parsed.lines
    if len(tokens) == 1 and tokens[0].type == "fence":
        fence = tokens[0]
        if fence.info.strip().lower() in _WRAPPER_INFOS and _closed(fence, lines):
            return fence.content
    opening, closing = (lines[0].strip(), lines[-1].strip()) if len(lines) > 2 else ("", "")
    for marker in ("```", "~~~"):
        if opening.lower() in (marker + "markdown", marker + "md") and closing == marker:
            return "\n".join(lines[1:-1]) + "\n"
    return None


def _closed(fence: Token, lines: list[str]) -> bool:
    """Whether a fence has its closing line (else it ran to the end of its container)."""
    assert fence.map is not None
    start, end = fence.map
    if end - 1 <= start:
        return False
    last = lines[end - 1].lstrip(" \t>").rstrip()  # container prefixes: blockquote, list
    char = fence.markup[0]
    return len(last) >= len(fence.markup) and last == char * len(last)


def _headings(parsed: _Parsed) -> list[tuple[str, str]]:
    """``(normalized, plain)`` text of every heading (ATX and setext), in order."""
    found = []
    for opening, inline in zip(parsed.tokens, parsed.tokens[1:], strict=False):
        if opening.type == "heading_open":
            plain = "".join(c.content for c in inline.children or () if c.type != "softbreak")
            found.append((_normalized(plain), plain.strip()))
    return found


def _normalized(heading: str) -> str:
    text = heading.strip().rstrip("#").replace("*", "").replace("_", "")
    return _SPACE.sub(" ", text).strip().casefold()


def _markdown_problems(parsed: _Parsed, text: str) -> list[str]:
    problems = [] if text.strip() else ["the document is empty"]
    for token in parsed.tokens:
        if token.type == "fence" and not _closed(token, parsed.lines):
            line = token.map[0] + 1 if token.map else 0
            problems.append(f"code fence opened at line {line} is never closed")
    defined = set(_definitions(parsed))
    for label in dict.fromkeys(_references(parsed)):
        if label not in defined:
            problems.append(f"footnote [^{label}] has no definition")
    for child in _children(parsed):
        if child.type == "link_open" and not child.attrs.get("href"):
            problems.append("a link has an empty target")
        elif child.type == "image" and not child.attrs.get("src"):
            problems.append(f"image {child.content!r} has an empty target")
    return problems


def _check_markdown(enhanced: _Parsed, text: str) -> Check:
    problems = _markdown_problems(enhanced, text)
    detail = "valid Markdown" if not problems else f"{len(problems)} Markdown problem(s)"
    return Check("markdown", not problems, detail, tuple(problems))


def _check_sections(original: _Parsed, enhanced: _Parsed) -> Check:
    wanted = _headings(original)
    if not wanted:
        return Check("sections", True, "the original has no headings")
    available = Counter(normalized for normalized, _ in _headings(enhanced))
    missing = []
    for normalized, plain in wanted:
        if available[normalized] > 0:
            available[normalized] -= 1
        else:
            missing.append(plain)
    kept = len(wanted) - len(missing)
    detail = f"{kept} of {len(wanted)} original headings kept"
    return Check("sections", not missing, detail, tuple(missing))


def _check_citations(cited: list[str], returned_ids: set[str]) -> Check:
    if not cited:
        return Check("citations", True, "no citations were made")
    invented = tuple(label for label in cited if label not in returned_ids)
    if invented:
        detail = f"{len(invented)} of {len(cited)} citations name chunks no tool returned"
    else:
        detail = f"{len(cited)} citation(s), all of chunks the tools returned"
    return Check("citations", not invented, detail, invented)


def _check_content(original: str, enhanced: str, minimum: float) -> Check:
    before = _WORD.findall(original.lower())
    after = Counter(_WORD.findall(enhanced.lower()))
    counts = Counter(before)
    kept = sum(min(n, after[word]) for word, n in counts.items())
    share = kept / len(before) if before else 1.0
    dropped = [word for word in dict.fromkeys(before) if after[word] < counts[word]]
    detail = f"{share:.1%} of the original's words kept (at least {minimum:.1%} required)"
    return Check("content", share >= minimum, detail, tuple(dropped[:_DROPPED_WORDS_SHOWN]))


def check_enhancement(
    original: str, enhanced: str, returned_ids: set[str], *, min_content_retained: float = 0.9
) -> list[Check]:
    """The deterministic checks, in order: markdown, sections, citations, content.

    ``returned_ids`` are the chunk ids the tools returned (:func:`returned_chunk_ids`). The
    ``content`` share counts words (lowercase letters and digits, code included) as a
    multiset; its ``items`` show up to 20 words that lost occurrences.
    """
    before, after = _parse(original), _parse(enhanced)
    own = set(_labels(before))
    cited = [label for label in _labels(after) if label not in own]
    return [
        _check_markdown(after, enhanced),
        _check_sections(before, after),
        _check_citations(cited, returned_ids),
        _check_content(original, enhanced, min_content_retained),
    ]


def parse_review(reply: str) -> dict[str, Any]:
    """A review reply as ``{"approved": bool | None, "issues": [str], "error": str | None}``.

    The JSON object may sit in a ```` ```json ```` fence or among prose (the first object
    that decodes is used). Never raises: unusable replies give ``approved`` None and an
    ``error`` saying why.
    """
    fenced = _REVIEW_FENCE.search(reply)
    found = _first_object(fenced.group(1)) if fenced else None
    found = found if found is not None else _first_object(reply)
    if found is None:
        return _review(None, [], "the review holds no JSON object")
    approved, issues = found.get("approved"), found.get("issues", [])
    if not isinstance(approved, bool):
        return _review(None, [], "the review's 'approved' is not true or false")
    if not isinstance(issues, list):
        return _review(None, [], "the review's 'issues' is not a list")
    return _review(approved, [i if isinstance(i, str) else json.dumps(i) for i in issues], None)


def _review(approved: bool | None, issues: list[str], error: str | None) -> dict[str, Any]:
    return {"approved": approved, "issues": issues, "error": error}


def _first_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None
