"""The YAML configuration files (providers, storage): ``${VAR}`` and ``${VAR:-default}``
are replaced from the environment before parsing, so one file serves the local stack and
production. Problems are a :class:`ConfigFileError`, raised at start-up, never per request."""

from __future__ import annotations

import re
from collections.abc import Mapping

_ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class ConfigFileError(ValueError):
    """A configuration file is missing or invalid."""


def interpolate_env(
    text: str,
    environ: Mapping[str, str],
    what: str = "config file",
    error: type[ConfigFileError] = ConfigFileError,
) -> str:
    """Replace ``${VAR}`` / ``${VAR:-default}``; an unset variable without default is an
    ``error`` naming ``what`` (the file) and the variable."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        value = environ.get(name)
        if value:
            return value
        if default is not None:
            return default
        raise error(f"{what} references ${{{name}}}, which is not set")

    return _ENV_REF.sub(substitute, text)
