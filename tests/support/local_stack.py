"""Helpers for tests of ``llm-gateway up``: a fresh machine's environment, and the process
tree of a running ``up`` read from /proc."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from emulator.local_env import emulator_env_by_provider


def _provider_variables() -> list[str]:
    with tempfile.TemporaryDirectory() as scratch:
        groups = emulator_env_by_provider("http://127.0.0.1:1", Path(scratch))
    return [name for variables in groups.values() for name in variables]


PROVIDER_VARIABLES = _provider_variables()


def up_env(redis_port: int, worker_concurrency: int) -> dict[str, str]:
    """The environment of a fresh machine: own Redis port, no keys, no provider URLs.
    ``COLUMNS`` keeps the demo's table rows on one line each."""
    env = {
        **os.environ,
        "LLM_GATEWAY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "LLM_GATEWAY_WORKER_CONCURRENCY": str(worker_concurrency),
        "LLM_GATEWAY_LOG_LEVEL": "WARNING",
        "COLUMNS": "220",
    }
    for name in (
        "LLM_GATEWAY_API_KEYS",
        "LLM_GATEWAY_SEMANTIC_SEARCH_URL",
        "LLM_GATEWAY_AI_AGENTS_URL",
        "LLM_GATEWAY_LOCAL_S3_URL",
        *PROVIDER_VARIABLES,
    ):
        env.pop(name, None)
    return env


def up_argv(*options: str) -> list[str]:
    return [sys.executable, "-m", "cli", "up", *options]


def children_of(parent: int) -> dict[int, str]:
    """Live children of ``parent``: pid to command line."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = _stat(int(entry.name))
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if ppid == parent and state != "Z":
            found[int(entry.name)] = cmdline.strip()
    return found


def alive(pid: int) -> bool:
    """Running (a zombie counts as gone: in a container nobody may reap it)."""
    try:
        state, _ = _stat(pid)
    except FileNotFoundError:
        return False
    return state != "Z"


def _stat(pid: int) -> tuple[str, int]:
    """(state, parent pid) from /proc/<pid>/stat; the command name may hold spaces."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return fields[0], int(fields[1])
