"""Redis Lua scripts, kept as ``.lua`` files beside the Python that owns them.

A script is read once per process (``source``) and registered once per owner
(``register``, at the owner's construction): redis-py's ``Script`` then sends EVALSHA and
falls back to the body only when the server answers NOSCRIPT.

Shared snippets are named, not concatenated: a line ``--!include <path>`` (a path from the
top of the source tree, e.g. ``--!include gateway/scripts/clock.lua``) is replaced by that
file, each file at most once per script, nested includes resolved the same way. An unknown
file, a cycle or a malformed directive fails at load time, loudly.

``${NAME}`` is replaced by ``gateway.keys.LUA_KEY_PREFIXES[NAME]``: key names are made in
``gateway.keys`` only (see ``gateway/scripts/keys.lua``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from gateway.keys import LUA_KEY_PREFIXES

# A script as registered: call with ``keys=``, ``args=`` and optionally ``client=`` (a
# pipeline); returns the reply (sync client) or an awaitable of it (asyncio client).
RegisteredScript = Callable[..., Any]

_DIRECTIVE = re.compile(r"^--!(\S*)(.*)$")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class LuaScriptError(Exception):
    """A ``.lua`` file cannot be loaded: missing, a bad include, an unknown placeholder."""


@functools.cache
def source(path: str) -> str:
    """The script at ``path`` (e.g. ``"tasks/jobs/scripts/finish.lua"``) with its includes
    and key prefixes resolved."""
    text = _expand(path, (), set())
    return _PLACEHOLDER.sub(lambda m: _prefix(m.group(1), path), text)


def register(redis: Redis | AsyncRedis, path: str) -> RegisteredScript:
    """Register the script at ``path`` on ``redis``; call this once, when its owner is built."""
    return redis.register_script(source(path))


def _expand(path: str, stack: tuple[str, ...], included: set[str]) -> str:
    if path in stack:
        raise LuaScriptError(f"include cycle: {' -> '.join((*stack, path))}")
    lines = []
    for number, line in enumerate(_read(path, stack).splitlines(), start=1):
        directive = _DIRECTIVE.match(line.strip())
        if directive is None:
            lines.append(line)
            continue
        name, target = directive.group(1), directive.group(2).strip()
        if name != "include" or not target or " " in target:
            raise LuaScriptError(f"{path}:{number}: unknown directive {line.strip()!r}")
        if target not in included:
            included.add(target)
            lines.append(_expand(target, (*stack, path), included))
    return "\n".join(lines) + "\n"


def _read(path: str, stack: tuple[str, ...]) -> str:
    parts = path.split("/")
    where = f" (included from {stack[-1]})" if stack else ""
    if len(parts) < 2 or not path.endswith(".lua") or any(p in ("", ".", "..") for p in parts):
        raise LuaScriptError(f"not a Lua file path: {path!r}{where}")
    try:
        resource = resources.files(parts[0]).joinpath(*parts[1:])
        return resource.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError) as exc:
        raise LuaScriptError(f"no Lua file {path!r}{where}") from exc


def _prefix(name: str, path: str) -> str:
    try:
        return LUA_KEY_PREFIXES[name]
    except KeyError:
        raise LuaScriptError(f"{path}: unknown key prefix ${{{name}}}") from None
