"""Lua scripts as ``.lua`` files (``gateway.lua``): every one loads and compiles, includes
resolve or fail loudly, no Python module carries Lua any more, every key a script touches
comes from KEYS (or, when named by data the script reads, from ``gateway/scripts/keys.lua``),
and calls go by EVALSHA."""

from __future__ import annotations

import re
import tomllib
import uuid
from pathlib import Path

import pytest
import redis

from gateway import keys
from gateway.lua import LuaScriptError, source
from tasks.jobs.job_scripts import JobScripts
from tasks.jobs.record import JobStatus

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "workers", "tasks", "limits", "providers", "tools", "gateway", "cli")
LUA_FILES = sorted(
    path.relative_to(ROOT).as_posix()
    for package in PACKAGES
    for path in (ROOT / package).rglob("*.lua")
)
# The one file that may join a key name: keys named by data read as the script runs.
DERIVED_KEYS = "gateway/scripts/keys.lua"
# Commands whose first argument is not a key.
KEYLESS = {"TIME", "PUBLISH"}


def test_the_scripts_are_found() -> None:
    assert len(LUA_FILES) >= 30
    assert "tasks/jobs/scripts/finish.lua" in LUA_FILES


@pytest.mark.parametrize("path", LUA_FILES)
def test_every_script_loads_and_compiles(path: str, isolated_redis: redis.Redis) -> None:
    text = source(path)
    assert "--!" not in text
    assert "${" not in text
    # SCRIPT LOAD compiles the script: a syntax error fails here, not on first use.
    assert isolated_redis.script_load(text)


def test_every_script_ships_in_the_wheel() -> None:
    """Each ``.lua`` file matches its package's ``package-data`` globs in pyproject.toml."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = config["tool"]["setuptools"]["package-data"]
    shipped = {
        (ROOT / package / match).resolve().relative_to(ROOT).as_posix()
        for package, patterns in package_data.items()
        for pattern in patterns
        for match in (ROOT / package).glob(pattern)
    }
    assert set(LUA_FILES) <= shipped


def test_no_python_module_carries_lua() -> None:
    offenders = [
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "redis.call(" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def _key_arguments(text: str) -> list[tuple[str, str]]:
    """(command, first argument) of every ``redis.call`` in ``text``."""
    found = []
    for match in re.finditer(r"redis\.call\(\s*'(\w+)'\s*,?", text):
        command, i, depth, arg = match.group(1).upper(), match.end(), 0, ""
        quote = None
        while i < len(text):
            ch = text[i]
            if quote:
                quote = None if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch in "([{":
                depth += 1
            elif ch in ")]}":
                if depth == 0:
                    break
                depth -= 1
            elif ch == "," and depth == 0:
                break
            arg += ch
            i += 1
        found.append((command, arg.strip()))
    return found


@pytest.mark.parametrize("path", LUA_FILES)
def test_keys_come_from_keys_or_the_derived_key_helpers(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    code = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
    if path != DERIVED_KEYS:
        # No key prefix, no key name literal: those live in gateway.keys.
        assert "${" not in code
        assert keys.PREFIX not in code
    for command, arg in _key_arguments(code):
        if command in KEYLESS:
            continue
        assert arg, f"{path}: {command} without a key"
        assert ".." not in arg, f"{path}: {command} builds its key: {arg}"
        assert "ARGV" not in arg, f"{path}: {command} takes its key from ARGV: {arg}"
        name = re.fullmatch(r"[a-z_]+", arg)
        if name:
            # A local holding a key is assigned from KEYS, a helper or a record field,
            # never joined here.
            for assigned in re.findall(rf"local {arg}\s*=\s*(.*)", code):
                assert ".." not in assigned, f"{path}: {arg} = {assigned}"


def _write_package(root: Path, files: dict[str, str]) -> str:
    """A package of ``.lua`` files under ``root`` (on sys.path); ``PKG/`` in a file names
    the package itself. Each gets a new name: loaded sources are cached per process."""
    name = f"luatest_{uuid.uuid4().hex[:8]}"
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    for file, text in files.items():
        (root / name / file).write_text(text.replace("PKG/", f"{name}/"))
    return name


def test_includes_resolve_once_each_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = _write_package(
        tmp_path,
        {
            "main.lua": "--!include PKG/a.lua\n--!include PKG/b.lua\nreturn 1\n",
            "a.lua": "--!include PKG/b.lua\nlocal a = 1\n",
            "b.lua": "local b = '${JOB}'\n",
        },
    )
    text = source(f"{pkg}/main.lua")
    assert text.count("local b") == 1
    assert text.index("local b") < text.index("local a") < text.index("return 1")
    assert f"'{keys.job('')}'" in text


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"main.lua": "--!include PKG/missing.lua\n"}, "no Lua file"),
        ({"main.lua": "--!include nosuchpackage_xyz/a.lua\n"}, "no Lua file"),
        ({"main.lua": "--!include PKG/a.txt\n"}, "not a Lua file path"),
        ({"main.lua": "--!include\n"}, "unknown directive"),
        ({"main.lua": "--!inclde PKG/a.lua\n"}, "unknown directive"),
        ({"main.lua": "--!include PKG/a.lua\n", "a.lua": "--!include PKG/main.lua\n"}, "cycle"),
        ({"main.lua": "local k = '${NOPE}'\n"}, "unknown key prefix"),
    ],
)
def test_a_bad_script_fails_loudly(
    files: dict[str, str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = _write_package(tmp_path, files)
    with pytest.raises(LuaScriptError, match=message):
        source(f"{pkg}/main.lua")


def _evals(client: redis.Redis) -> tuple[int, int]:
    stats = client.info("commandstats")
    return (
        int(stats.get("cmdstat_eval", {}).get("calls", 0)),
        int(stats.get("cmdstat_evalsha", {}).get("calls", 0)),
    )


def test_scripts_run_by_sha_not_by_body(isolated_redis: redis.Redis) -> None:
    """A script's body goes to Redis once (SCRIPT LOAD after NOSCRIPT), never per call."""
    isolated_redis.script_flush()
    scripts = JobScripts(isolated_redis)
    eval_before, sha_before = _evals(isolated_redis)
    for _ in range(3):
        scripts.transition("job_missing", {JobStatus.QUEUED}, JobStatus.RUNNING)
    eval_after, sha_after = _evals(isolated_redis)
    assert eval_after == eval_before
    assert sha_after - sha_before >= 3
