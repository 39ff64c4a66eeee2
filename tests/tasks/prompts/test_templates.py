"""Versioned prompt templates: rendering, markers, strictness and load-time validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.errors import InvalidRequest
from tasks.prompts.templates import DEFAULT_ROOT, PromptTemplates

DOCUMENT = "# Tool loops\n\nThe worker runs tool calls.\n"
VARIABLES: dict[str, Any] = {
    "document": DOCUMENT,
    "title": "Tool loops",
    "name": "loops.md",
    "tools": ["search_corpus", "get_chunk"],
    "checks": [
        {"name": "sections", "passed": False, "detail": "1 of 2 kept", "items": ["Limits"]},
        {"name": "content", "passed": True, "detail": "99.0% kept", "items": []},
    ],
    "max_iterations": 4,
}
VALID = {
    "version": "v1",
    "description": "test prompts",
    "system": "system for {{ title }}",
    "gather": "gather\n<document>\n{{ document }}\n</document>\n",
    "enhance": "enhance {{ title }}",
    "review": "review",
}


@pytest.fixture(scope="module")
def prompts() -> PromptTemplates:
    return PromptTemplates()


def write_version(root: Path, stem: str, **overrides: Any) -> Path:
    """A prompt file under ``root/enhancement``; a value of None drops the key."""
    fields = {**VALID, "version": stem, **overrides}
    path = root / "enhancement" / f"{stem}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({k: v for k, v in fields.items() if v is not None}))
    return path


@pytest.mark.parametrize("step", ["gather", "enhance", "review"])
def test_every_step_renders_with_the_markers(prompts: PromptTemplates, step: str) -> None:
    rendered = prompts.render("enhancement", "v1", step, **VARIABLES)
    assert rendered.id == "enhancement/v1"
    assert rendered.system.splitlines()[0] == "llm-gateway-prompt: enhancement/v1"
    assert rendered.user.splitlines()[0] == f"[enhancement step: {step}]"
    assert '"loops.md"' in rendered.system
    assert "Tool loops" in rendered.user


def test_the_system_prompt_is_the_same_for_every_step(prompts: PromptTemplates) -> None:
    steps = ("gather", "enhance", "review")
    systems = {prompts.render("enhancement", "v1", s, **VARIABLES).system for s in steps}
    assert len(systems) == 1


def test_gather_holds_the_document_between_its_marker_lines(prompts: PromptTemplates) -> None:
    lines = prompts.render("enhancement", "v1", "gather", **VARIABLES).user.splitlines()
    start, end = lines.index("<document>"), lines.index("</document>")
    assert "\n".join(lines[start + 1 : end]) == DOCUMENT.rstrip()
    assert "search_corpus, get_chunk" in "\n".join(lines)
    assert "at most 4 tool rounds" in "\n".join(lines)


def test_gather_without_tools_says_so(prompts: PromptTemplates) -> None:
    user = prompts.render("enhancement", "v1", "gather", **{**VARIABLES, "tools": []}).user
    assert "No tools are available" in user


def test_enhance_asks_for_footnote_citations_of_returned_chunks(prompts: PromptTemplates) -> None:
    user = prompts.render("enhancement", "v1", "enhance", **VARIABLES).user
    assert "[^<chunk_id>]: <source>" in user
    assert "ONLY chunk ids that a tool returned" in user
    assert "no code fence" in user


def test_review_lists_the_checks_and_asks_for_json(prompts: PromptTemplates) -> None:
    user = prompts.render("enhancement", "v1", "review", **VARIABLES).user
    assert "- sections: FAILED, 1 of 2 kept (Limits)" in user
    assert "- content: passed, 99.0% kept\n" in user
    assert '{"approved": true or false, "issues": [' in user


def test_a_document_with_template_syntax_is_inserted_verbatim(prompts: PromptTemplates) -> None:
    document = "# {{ x }}\n\n{% for i in range(3) %}{{ i }}{% endfor %} {# note #}\n"
    user = prompts.render("enhancement", "v1", "gather", **{**VARIABLES, "document": document})
    assert document.rstrip() in user.user


def test_a_missing_variable_is_an_error_not_an_empty_string(prompts: PromptTemplates) -> None:
    variables = {k: v for k, v in VARIABLES.items() if k != "title"}
    with pytest.raises(ValueError, match="'title' is undefined"):
        prompts.render("enhancement", "v1", "gather", **variables)


def test_an_unknown_version_is_a_400_listing_the_versions(prompts: PromptTemplates) -> None:
    with pytest.raises(InvalidRequest) as caught:
        prompts.render("enhancement", "v0", "gather", **VARIABLES)
    assert caught.value.status_code == 400
    assert caught.value.param == "options.prompt_version"
    assert "available versions: v1" in caught.value.message


def test_an_unknown_step_is_an_error(prompts: PromptTemplates) -> None:
    with pytest.raises(ValueError, match="unknown enhancement step 'polish'"):
        prompts.render("enhancement", "v1", "polish", **VARIABLES)


def test_the_shipped_versions(prompts: PromptTemplates) -> None:
    assert (DEFAULT_ROOT / "enhancement" / "v1.yaml").is_file()
    assert prompts.versions("enhancement")[0] == "v1"
    assert prompts.latest("enhancement") == prompts.versions("enhancement")[-1]
    assert prompts.description("enhancement", "v1")


def test_versions_sort_by_number(tmp_path: Path) -> None:
    for version in ("v10", "v2", "v1"):
        write_version(tmp_path, version)
    templates = PromptTemplates(tmp_path)
    assert templates.versions("enhancement") == ["v1", "v2", "v10"]
    assert templates.latest("enhancement") == "v10"


def test_a_kind_without_versions_has_no_latest(tmp_path: Path) -> None:
    templates = PromptTemplates(tmp_path)
    assert templates.versions("enhancement") == []
    with pytest.raises(ValueError, match="no prompt templates"):
        templates.latest("enhancement")


def test_templates_are_loaded_once(tmp_path: Path) -> None:
    path = write_version(tmp_path, "v1")
    templates = PromptTemplates(tmp_path)
    path.unlink()
    assert templates.render("enhancement", "v1", "enhance", title="T").user.endswith("enhance T")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"review": None}, "missing or non-text key\\(s\\): review", id="missing-key"),
        pytest.param({"version": "v9"}, "must match the file name", id="version-mismatch"),
        pytest.param({"enhance": "{% if %}"}, "does not compile", id="template-syntax"),
        pytest.param({"gather": "{{ document }}"}, "<document> and </document>", id="no-markers"),
    ],
)
def test_an_unusable_file_fails_at_construction(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    write_version(tmp_path, "v1", **overrides)
    with pytest.raises(ValueError, match=message):
        PromptTemplates(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("version: [unclosed\n", "invalid YAML", id="bad-yaml"),
        pytest.param("- a list\n", "expected a mapping", id="not-a-mapping"),
    ],
)
def test_a_file_that_is_no_template_mapping_fails(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "enhancement").mkdir()
    (tmp_path / "enhancement" / "v1.yaml").write_text(text)
    with pytest.raises(ValueError, match=message):
        PromptTemplates(tmp_path)


def test_an_unknown_kind_fails_at_construction(tmp_path: Path) -> None:
    (tmp_path / "summary").mkdir()
    (tmp_path / "summary" / "v1.yaml").write_text("version: v1\n")
    with pytest.raises(ValueError, match="unknown prompt kind 'summary'"):
        PromptTemplates(tmp_path)
