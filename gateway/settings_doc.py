"""Render docs/configuration.md from the settings class, so the page cannot go stale.

    python -m gateway.settings_doc            # print the page
    python -m gateway.settings_doc --write    # rewrite docs/configuration.md

``tests/gateway/test_settings_doc.py`` fails when the committed page differs from this output.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from gateway.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
PAGE = REPO_ROOT / "docs" / "configuration.md"
REGENERATE = "python -m gateway.settings_doc --write"

_HEADER = f"""\
# Configuration

<!-- Generated from gateway/settings.py by `{REGENERATE}`; do not edit by hand. -->

Every setting is an environment variable with the prefix `LLM_GATEWAY_`, read by one
pydantic-settings class (`gateway/settings.py`) once per process. Durations are seconds,
sizes bytes. Provider instances are configured in their own file
([providers.md](providers.md)), tools in theirs ([tools-and-sessions.md](tools-and-sessions.md)).

| variable | type | default | bounds | meaning |
|---|---|---|---|---|
"""


def render() -> str:
    """The whole page, one table row per field in the class's order."""
    prefix = Settings.model_config.get("env_prefix", "")
    rows = [_row(f"{prefix}{name.upper()}", info) for name, info in Settings.model_fields.items()]
    return _HEADER + "\n".join(rows) + "\n"


def _row(variable: str, info: FieldInfo) -> str:
    if not info.description:
        raise ValueError(f"{variable}: the settings field has no description")
    cells = [
        f"`{variable}`",
        _type_name(info.annotation),
        _default(info.default),
        _bounds(info),
        info.description,
    ]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return " or ".join(_type_name(arg) for arg in get_args(annotation))
    if annotation is type(None):
        return "unset"
    names = {SecretStr: "secret", Path: "path", bool: "bool", int: "int", float: "float"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, Path):
        # Defaults are absolute (next to the package); show them as the checkout sees them.
        value = (
            value.relative_to(REPO_ROOT).as_posix() if value.is_relative_to(REPO_ROOT) else value
        )
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _bounds(info: FieldInfo) -> str:
    parts = []
    for item in info.metadata:
        if isinstance(item, Ge):
            parts.append(f"≥ {item.ge}")
        elif isinstance(item, Gt):
            parts.append(f"> {item.gt}")
        elif isinstance(item, Le):
            parts.append(f"≤ {item.le}")
        elif isinstance(item, Lt):
            parts.append(f"< {item.lt}")
    return ", ".join(parts)


def main(argv: list[str]) -> int:
    page = render()
    if argv == ["--write"]:
        PAGE.write_text(page, encoding="utf-8")
        return 0
    if argv:
        print(f"usage: {REGENERATE.removesuffix(' --write')} [--write]", file=sys.stderr)
        return 2
    sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
