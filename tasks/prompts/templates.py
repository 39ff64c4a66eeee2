"""Versioned prompt templates: ``tasks/prompts/<kind>/<version>.yaml``.

Each file holds ``version`` (its file name's stem), ``description``, ``system`` and one
template per step of its kind (``enhancement``: ``gather``, ``enhance``, ``review``), each a
Jinja2 template rendered in a sandbox with ``StrictUndefined`` (a missing variable is an
error, never an empty string) and no autoescape. Variables are the caller's values; they are
inserted verbatim, never evaluated as templates.

Machine-readable markers (the emulator's enhancer persona relies on them, and
:meth:`PromptTemplates.render` adds them, so a template cannot forget them):

- the system prompt's first line is exactly ``llm-gateway-prompt: <kind>/<version>``;
- each step's user message starts with the line ``[<kind> step: <step>]``;
- the enhancement ``gather`` template must hold a line ``<document>`` and a line
  ``</document>`` around the document (checked when the templates load).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from gateway.errors import InvalidRequest

DEFAULT_ROOT = Path(__file__).parent
#: The steps each kind of prompt has; a file of another kind fails at load.
STEPS: Mapping[str, tuple[str, ...]] = {"enhancement": ("gather", "enhance", "review")}
_DOCUMENT_LINES = ("<document>", "</document>")
_NUMBER = re.compile(r"(\d+)")


def system_marker(prompt_id: str) -> str:
    """The first line of a rendered system prompt, e.g. ``llm-gateway-prompt: enhancement/v1``."""
    return f"llm-gateway-prompt: {prompt_id}"


def step_marker(kind: str, step: str) -> str:
    """The first line of a step's user message, e.g. ``[enhancement step: gather]``."""
    return f"[{kind} step: {step}]"


@dataclass(frozen=True)
class RenderedPrompt:
    """One step's messages: ``id`` is ``<kind>/<version>``."""

    id: str
    system: str
    user: str


@dataclass(frozen=True)
class _Version:
    description: str
    templates: Mapping[str, Template]  # "system" and every step


class PromptTemplates:
    """Every prompt template under ``root``, loaded and compiled once at construction.

    A file that cannot be used (bad YAML, missing key, a template that does not compile)
    raises ValueError here rather than at a job's first render.
    """

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self._env = SandboxedEnvironment(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._kinds: dict[str, dict[str, _Version]] = {}
        for path in sorted(root.glob("*/*.yaml")):
            kind, version = path.parent.name, path.stem
            self._kinds.setdefault(kind, {})[version] = self._load(path, kind, version)

    def versions(self, kind: str = "enhancement") -> list[str]:
        """The versions of ``kind``, oldest first (``v2`` before ``v10``)."""
        return sorted(self._kinds.get(kind, {}), key=_version_key)

    def latest(self, kind: str = "enhancement") -> str:
        """The newest version of ``kind``."""
        versions = self.versions(kind)
        if not versions:
            raise ValueError(f"no prompt templates of kind {kind!r}")
        return versions[-1]

    def description(self, kind: str, version: str) -> str:
        """What the version is for (its ``description``)."""
        return self._version(kind, version).description

    def render(self, kind: str, version: str, step: str, **variables: Any) -> RenderedPrompt:
        """The system prompt and ``step``'s user message, markers included.

        Raises :class:`InvalidRequest` for an unknown version and ValueError for an unknown
        step or a template that fails (e.g. a variable it uses is missing).
        """
        templates = self._version(kind, version).templates
        if step not in STEPS[kind]:
            raise ValueError(f"unknown {kind} step {step!r}; steps: {', '.join(STEPS[kind])}")
        prompt_id = f"{kind}/{version}"
        try:
            system = templates["system"].render(**variables)
            user = templates[step].render(**variables)
        except TemplateError as exc:
            raise ValueError(f"prompt {prompt_id} step {step} failed: {exc}") from exc
        return RenderedPrompt(
            id=prompt_id,
            system=system_marker(prompt_id) + "\n" + system,
            user=step_marker(kind, step) + "\n" + user,
        )

    def _version(self, kind: str, version: str) -> _Version:
        found = self._kinds.get(kind, {}).get(version)
        if found is None:
            available = ", ".join(self.versions(kind)) or "(none)"
            raise InvalidRequest(
                f"unknown {kind} prompt version {version!r}; available versions: {available}",
                param="options.prompt_version",
            )
        return found

    def _load(self, path: Path, kind: str, version: str) -> _Version:
        steps = STEPS.get(kind)
        if steps is None:
            raise ValueError(f"{path}: unknown prompt kind {kind!r}; kinds: {', '.join(STEPS)}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: invalid YAML: {exc}") from exc
        keys = ("version", "description", "system", *steps)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping with keys {', '.join(keys)}")
        missing = [key for key in keys if not isinstance(data.get(key), str)]
        if missing:
            raise ValueError(f"{path}: missing or non-text key(s): {', '.join(missing)}")
        if data["version"] != version:
            raise ValueError(f"{path}: version {data['version']!r} must match the file name")
        if kind == "enhancement" and not _has_lines(data["gather"], _DOCUMENT_LINES):
            raise ValueError(f"{path}: gather must hold the lines <document> and </document>")
        try:
            templates = {key: self._env.from_string(data[key]) for key in ("system", *steps)}
        except TemplateError as exc:
            raise ValueError(f"{path}: template does not compile: {exc}") from exc
        return _Version(description=data["description"], templates=templates)


def _has_lines(source: str, wanted: tuple[str, ...]) -> bool:
    lines = {line.strip() for line in source.splitlines()}
    return all(line in lines for line in wanted)


def _version_key(version: str) -> tuple[Any, ...]:
    # Split into text and numbers ("v10" -> "v", 10, ""): positions always hold one type.
    return tuple(int(part) if part.isdigit() else part for part in _NUMBER.split(version))
