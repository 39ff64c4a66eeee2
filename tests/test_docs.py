"""The documentation stays true: a short front page, links that resolve, no pointers
outside the repository, and every ``llm-gateway`` command the pages show really exists."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.main import cli
from tests.support.processes import ROOT

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^\s*```")
_INLINE_CODE = re.compile(r"`([^`]+)`")
_COMMAND = re.compile(r"(?:^|[\s/])llm-gateway((?:\s+[^\s#]+)*)")


def _prose_and_code(page: Path) -> tuple[list[str], list[str]]:
    """The page's lines outside fenced blocks, and its shell commands: fenced lines (with
    backslash continuations joined) plus inline code spans."""
    prose: list[str] = []
    code: list[str] = []
    fenced = False
    pending = ""
    for line in page.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            prose.append(line)
            code.extend(_INLINE_CODE.findall(line))
        elif line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
        else:
            code.append(pending + line)
            pending = ""
    return prose, code


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    prose, _ = _prose_and_code(page)
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for line in prose:
        if match := re.match(r"#{1,6}\s+(.*)", line):
            slug = _slug(match.group(1))
            count = seen.get(slug, 0)
            anchors.add(slug if count == 0 else f"{slug}-{count}")
            seen[slug] = count + 1
    return anchors


def test_readme_is_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move detail to docs/"
    _, code = _prose_and_code(README)
    assert "make up" in " ".join(code) and "make test" in " ".join(code)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    prose, _ = _prose_and_code(page)
    broken: list[str] = []
    for target in _LINK.findall("\n".join(prose)):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not ours to check offline
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_no_tracked_file_points_outside_the_repository() -> None:
    # Spelt in pieces so that this file does not match itself.
    needles = ["../" + "shared", "SPEC" + ".md"]
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    offenders = []
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if not path.is_file():
            continue
        text = path.read_bytes()
        offenders += [f"{name.decode()}: {n}" for n in needles if n.encode() in text]
    assert not offenders, offenders


def _documented_commands() -> dict[tuple[str, ...], set[str]]:
    """Every ``llm-gateway`` command path shown in the docs → the options used with it."""
    groups = {group.name for group in cli.registered_groups}
    found: dict[tuple[str, ...], set[str]] = {}
    for page in PAGES:
        _, code = _prose_and_code(page)
        for snippet in code:
            for match in _COMMAND.finditer(snippet):
                words = shlex.split(match.group(1).split(" #")[0])
                if not words or not re.fullmatch(r"[a-z][a-z|-]*", words[0]):
                    continue
                depth = 2 if words[0] in groups and len(words) > 1 else 1
                options = {w.split("=")[0] for w in words[depth:] if w.startswith("--")}
                # "jobs get|wait|cancel" names three commands.
                for last in words[depth - 1].split("|"):
                    path = (*words[: depth - 1], last)
                    found.setdefault(path, set()).update(options)
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point, as a reader would run it."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _help(path: tuple[str, ...]) -> Result:
    """``--help`` in process (one import for every command the pages name)."""
    return CliRunner().invoke(cli, [*path, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_the_docs_show_commands() -> None:
    documented = _documented_commands()
    assert ("up",) in documented and ("batch", "submit") in documented


@pytest.mark.parametrize(
    "path", sorted(_documented_commands()), ids=lambda path: "llm-gateway " + " ".join(path)
)
def test_documented_command_exists_with_its_options(path: tuple[str, ...]) -> None:
    shown = _help(path)
    assert shown.exit_code == 0, f"llm-gateway {' '.join(path)} --help: {shown.output}"
    unknown = sorted(o for o in _documented_commands()[path] if o not in shown.output)
    assert not unknown, f"llm-gateway {' '.join(path)} has no option {unknown}"


@pytest.mark.parametrize("args", [["--help"], ["up", "--help"]], ids=" ".join)
def test_the_readme_help_commands_run(args: list[str]) -> None:
    shown = _run(*args)
    assert shown.returncode == 0, shown.stderr
    assert "Usage:" in shown.stdout


def test_top_level_help_lists_every_command() -> None:
    shown = _help(())
    assert shown.exit_code == 0, shown.output
    for name in ("up", "api", "worker", "emulator", "downstream", "jobs", "batch"):
        assert name in shown.output


def test_documented_batch_files_exist() -> None:
    """``llm-gateway batch submit docs/….md`` examples name files a reader has."""
    missing = []
    for page in PAGES:
        _, code = _prose_and_code(page)
        for snippet in code:
            if "batch submit" not in snippet:
                continue
            for word in snippet.split("batch submit", 1)[1].split():
                if word.endswith(".md") and not list(ROOT.glob(word)):
                    missing.append(f"{page.relative_to(ROOT)}: {word}")
    assert not missing, missing
