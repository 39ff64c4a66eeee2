"""The deterministic checks of enhancement jobs, reply unwrapping and review parsing."""

from __future__ import annotations

import json

import pytest

from tasks.kinds.enhancement.checks import (
    Check,
    check_enhancement,
    citations_of,
    document_title,
    parse_review,
    returned_chunk_ids,
    unwrap_document,
)

ORIGINAL = """# Tool loops

The worker runs the model's tool calls and sends the results back[^1].

## Limits

Each loop stops after max_iterations rounds or when its budget is spent.

[^1]: Written by the platform team.
"""
CITED = ORIGINAL.replace("rounds", "rounds[^chunk-004]") + "[^chunk-004]: docs/tools.md\n"


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def test_a_faithful_enhancement_passes_every_check_in_order() -> None:
    checks = check_enhancement(ORIGINAL, CITED, {"chunk-004", "chunk-011"})
    assert [c.name for c in checks] == ["markdown", "sections", "citations", "content"]
    assert all(c.passed for c in checks), [c.public() for c in checks]
    assert by_name(checks)["citations"].detail == "1 citation(s), all of chunks the tools returned"


def test_check_public_is_json_ready() -> None:
    check = Check("sections", False, "1 of 2 original headings kept", ("Limits",))
    assert check.public() == {
        "name": "sections",
        "passed": False,
        "detail": "1 of 2 original headings kept",
        "items": ["Limits"],
    }
    json.dumps(check.public())


@pytest.mark.parametrize(
    ("enhanced", "name", "items"),
    [
        pytest.param(
            ORIGINAL.replace("## Limits\n", ""), "sections", ("Limits",), id="dropped-section"
        ),
        pytest.param(
            ORIGINAL.replace("Limits\n", "Budgets\n"), "sections", ("Limits",), id="renamed"
        ),
        pytest.param(
            ORIGINAL + "\nSee also[^chunk-001].\n\n[^chunk-001]: docs/overview.md\n",
            "citations",
            ("chunk-001",),
            id="invented-citation",
        ),
        pytest.param(
            ORIGINAL + "\n```python\nprint('never closed')\n",
            "markdown",
            ("code fence opened at line 11 is never closed",),
            id="unclosed-fence",
        ),
        pytest.param(
            ORIGINAL + "\n> ~~~\n> quoted code\n\nafter\n",
            "markdown",
            ("code fence opened at line 11 is never closed",),
            id="unclosed-fence-in-blockquote",
        ),
        pytest.param(
            ORIGINAL + "\nSee the notes[^chunk-004].\n",
            "markdown",
            ("footnote [^chunk-004] has no definition",),
            id="undefined-footnote",
        ),
        pytest.param(
            ORIGINAL + "\nSee [the guide]().\n",
            "markdown",
            ("a link has an empty target",),
            id="empty-link",
        ),
        pytest.param(
            ORIGINAL + "\n![diagram](<>)\n",
            "markdown",
            ("image 'diagram' has an empty target",),
            id="empty-image",
        ),
        pytest.param("  \n", "markdown", ("the document is empty",), id="empty-document"),
    ],
)
def test_a_broken_enhancement_fails_the_check_that_names_the_problem(
    enhanced: str, name: str, items: tuple[str, ...]
) -> None:
    check = by_name(check_enhancement(ORIGINAL, enhanced, {"chunk-004"}))[name]
    assert not check.passed
    assert check.items == items


def test_the_original_footnotes_are_not_citations() -> None:
    assert citations_of(ORIGINAL, ORIGINAL) == []
    check = by_name(check_enhancement(ORIGINAL, ORIGINAL, set()))["citations"]
    assert check.passed
    assert check.detail == "no citations were made"


def test_citations_are_listed_once_in_order_of_first_appearance() -> None:
    enhanced = (
        ORIGINAL
        + "\nA[^chunk-011] b[^chunk-004] c[^chunk-011] d[^chunk-009].\n\n"
        + "[^chunk-004]: x\n[^chunk-011]: y\n[^chunk-007]: defined but never used\n"
    )
    assert citations_of(ORIGINAL, enhanced) == ["chunk-011", "chunk-004", "chunk-009", "chunk-007"]


def test_a_closed_fence_at_the_very_end_is_valid() -> None:
    enhanced = ORIGINAL + "\n````python\n```\nx = 1\n````"
    assert by_name(check_enhancement(ORIGINAL, enhanced, set()))["markdown"].passed


def test_footnote_syntax_in_code_is_not_a_reference() -> None:
    enhanced = ORIGINAL + "\nWrite `[^label]` to cite.\n\n```\n[^other]\n```\n"
    checks = by_name(check_enhancement(ORIGINAL, enhanced, set()))
    assert checks["markdown"].passed
    assert checks["citations"].detail == "no citations were made"


def test_setext_headings_are_sections_and_may_become_atx() -> None:
    original = "Guide\n=====\n\nIntro.\n\nSetup\n-----\n\nRun it.\n"
    as_atx = "# Guide\n\nIntro.\n\n### Setup\n\nRun it.\n"
    assert by_name(check_enhancement(original, as_atx, set()))["sections"].passed
    dropped = "Guide\n=====\n\nIntro.\n\nSetup\n\nRun it.\n"
    check = by_name(check_enhancement(original, dropped, set()))["sections"]
    assert (check.passed, check.items, check.detail) == (
        False,
        ("Setup",),
        "1 of 2 original headings kept",
    )


def test_headings_compare_without_case_spacing_emphasis_or_closing_hashes() -> None:
    original = "## *Quick   Start* ##\n\ntext\n"
    assert by_name(check_enhancement(original, "# quick start\n\ntext\n", set()))["sections"].passed


def test_a_repeated_heading_must_be_kept_as_often() -> None:
    original = "# Example\n\none\n\n# Example\n\ntwo\n"
    check = by_name(check_enhancement(original, "# Example\n\none\n\ntwo\n", set()))["sections"]
    assert check.items == ("Example",)


def test_an_original_without_headings_passes_sections() -> None:
    check = by_name(check_enhancement("just text", "just text", set()))["sections"]
    assert (check.passed, check.detail) == (True, "the original has no headings")


def test_content_share_below_the_threshold_fails_and_names_dropped_words() -> None:
    original = "alpha beta gamma delta"
    check = by_name(check_enhancement(original, "alpha beta", set()))["content"]
    assert not check.passed
    assert check.detail.startswith("50.0% of the original's words kept")
    assert check.items == ("gamma", "delta")
    lenient = check_enhancement(original, "alpha beta", set(), min_content_retained=0.5)
    assert by_name(lenient)["content"].passed


def test_content_counts_words_as_a_multiset_including_code() -> None:
    original = "Retry retry retry.\n\n```\nbackoff()\n```\n"
    check = by_name(check_enhancement(original, "Retry.\n", set()))["content"]
    assert check.detail.startswith("25.0% of the original's words kept")
    assert check.items == ("retry", "backoff")


@pytest.mark.parametrize(
    ("contents", "expected"),
    [
        pytest.param(
            [json.dumps({"output": {"results": [{"chunk_id": "chunk-004"}, {"chunk_id": "c-2"}]}})],
            {"chunk-004", "c-2"},
            id="json",
        ),
        pytest.param(
            [
                '{"output": {"results": [{"chunk_id": "chunk-004", "text": "Tool lo... '
                "[truncated: 900 characters, 40 kept]"
            ],
            {"chunk-004"},
            id="truncated",
        ),
        pytest.param(
            ['{"output": "{\\"chunk_id\\": \\"chunk-009\\"}"}'], {"chunk-009"}, id="escaped"
        ),
        pytest.param(['{"chunk_id":"chunk-001"}', "no ids here"], {"chunk-001"}, id="compact"),
        pytest.param(['{"output": {"results": [{"chunk_id": "chu'], set(), id="cut-inside"),
    ],
)
def test_returned_chunk_ids_are_read_from_any_tool_text(
    contents: list[str], expected: set[str]
) -> None:
    assert returned_chunk_ids(contents) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param("```markdown\n# T\n\ntext\n```", "# T\n\ntext\n", id="markdown-fence"),
        pytest.param("```md\n# T\n```\n", "# T\n", id="md-fence"),
        pytest.param("\n```\n# T\n```\n\n", "# T\n", id="bare-fence"),
        pytest.param("~~~markdown\n# T\n~~~", "# T\n", id="tilde-fence"),
        pytest.param(
            "Here is the enhanced document:\n\n```markdown\n# T\n```", "# T\n", id="preamble"
        ),
        pytest.param(
            "```markdown\n# T\n\n```python\nx = 1\n```\n\ntext\n```",
            "# T\n\n```python\nx = 1\n```\n\ntext\n",
            id="markdown-fence-with-inner-fences",
        ),
        pytest.param(
            "````markdown\n# T\n```\ncode\n```\n````", "# T\n```\ncode\n```\n", id="longer-fence"
        ),
    ],
)
def test_unwrap_document_strips_one_enclosing_fence(reply: str, expected: str) -> None:
    assert unwrap_document(reply) == expected


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param("# T\n\ntext\n", id="plain"),
        pytest.param("```python\nx = 1\n```", id="code-block-of-another-language"),
        pytest.param("```\na\n```\n\ntext\n\n```\nb\n```", id="starts-and-ends-with-code"),
        pytest.param("```markdown\n# T\n```\n\nI added citations.", id="prose-after-fence"),
        pytest.param("Here is the enhanced document:\n\n# T\n", id="preamble-without-fence"),
        pytest.param("# Note:\n```\nx\n```", id="heading-is-no-preamble"),
        pytest.param("```markdown\n# T\n", id="unclosed-fence"),
    ],
)
def test_unwrap_document_leaves_anything_else_alone(reply: str) -> None:
    assert unwrap_document(reply) == reply


def test_document_title_is_the_first_heading_else_the_name() -> None:
    assert document_title("intro\n\nGuide *one*\n=====\n\n# Two\n", "doc.md") == "Guide one"
    assert document_title("no headings", "doc.md") == "doc.md"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param(
            '```json\n{"approved": true, "issues": []}\n```',
            {"approved": True, "issues": [], "error": None},
            id="fenced-json",
        ),
        pytest.param(
            'Here is my review:\n{"approved": false, "issues": ["Limits was dropped"]}\nThanks!',
            {"approved": False, "issues": ["Limits was dropped"], "error": None},
            id="prose-around",
        ),
        pytest.param(
            'Braces {like these} first, then {"approved": true}',
            {"approved": True, "issues": [], "error": None},
            id="first-decodable-object",
        ),
        pytest.param(
            '{"approved": false, "issues": ["a", {"line": 3}]}',
            {"approved": False, "issues": ["a", '{"line": 3}'], "error": None},
            id="non-string-issue",
        ),
        pytest.param(
            "Looks great, approved!",
            {"approved": None, "issues": [], "error": "the review holds no JSON object"},
            id="garbage",
        ),
        pytest.param(
            '{"approved": "yes", "issues": []}',
            {
                "approved": None,
                "issues": [],
                "error": "the review's 'approved' is not true or false",
            },
            id="approved-not-bool",
        ),
        pytest.param(
            '{"approved": true, "issues": "none"}',
            {"approved": None, "issues": [], "error": "the review's 'issues' is not a list"},
            id="issues-not-list",
        ),
    ],
)
def test_parse_review(reply: str, expected: dict[str, object]) -> None:
    assert parse_review(reply) == expected
