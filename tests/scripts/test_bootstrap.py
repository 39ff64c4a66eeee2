"""scripts/bootstrap.sh repairs what a bare machine or an interrupted run left behind: a venv
without pip is rebuilt, a failed install runs again, and a Python outside requires-python is
refused with a clear message.

Each test runs the real script in a throwaway copy of the repository whose project is a
one-module package and whose lock pins only the build backend, setuptools (the real lock's
pin and hashes), so a run takes seconds, not minutes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The interpreter this venv was made from: bootstrap makes its venv from a plain python.
PYTHON = sys._base_executable


def _build_backend_pin() -> str:
    """setuptools' pin block (with its hashes) from the real dev lock."""
    blocks = re.split(r"\n(?=\S)", (ROOT / "requirements-dev.txt").read_text())
    wanted = [b for b in blocks if b.startswith("setuptools==")]
    assert len(wanted) == 1, "the dev lock pins setuptools (requirements-build.in)"
    return wanted[0] + "\n"


def _requires_python() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return str(project["requires-python"])


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", tmp_path / "scripts" / "bootstrap.sh")
    (tmp_path / "requirements-dev.txt").write_text(_build_backend_pin())
    (tmp_path / "probe.py").write_text("READY = True\n")
    _write_pyproject(tmp_path, _requires_python())
    return tmp_path


def _write_pyproject(repo: Path, requires_python: str) -> None:
    (repo / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["setuptools>=77"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        'name = "bootstrap-probe"\n'
        'version = "0"\n'
        f'requires-python = "{requires_python}"\n\n'
        "[tool.setuptools]\n"
        'py-modules = ["probe"]\n'
    )


def _bootstrap(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return subprocess.run(
        ["bash", str(repo / "scripts" / "bootstrap.sh")],
        env={**env, "PYTHON": PYTHON},
        capture_output=True,
        text=True,
        timeout=110,
    )


def _stamps(repo: Path) -> list[Path]:
    return sorted((repo / ".venv").glob(".installed-*"))


def _venv_runs(repo: Path, *args: str) -> bool:
    python = repo / ".venv" / "bin" / "python"
    return subprocess.run([python, *args], capture_output=True, timeout=60).returncode == 0


@pytest.mark.timeout(300)  # builds a venv: ensurepip alone takes half a minute on a busy machine
def test_a_venv_without_pip_is_rebuilt(repo: Path) -> None:
    # What `python3 -m venv` leaves on Debian without python3-venv: a python, no pip.
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", repo / ".venv"], check=True)
    assert not _venv_runs(repo, "-m", "pip", "--version")

    result = _bootstrap(repo)

    assert result.returncode == 0, result.stderr
    assert "half-built" in result.stderr and "rebuilding" in result.stderr
    assert _venv_runs(repo, "-m", "pip", "--version")
    assert _venv_runs(repo, "-c", "import probe; assert probe.READY")
    assert len(_stamps(repo)) == 1


@pytest.mark.timeout(300)
def test_a_failed_install_leaves_no_stamp_and_the_next_run_completes_it(repo: Path) -> None:
    assert _bootstrap(repo).returncode == 0
    lock = repo / "requirements-dev.txt"
    good = lock.read_text()
    # A lock whose new pin does not match what the index serves (a tampered or truncated
    # download): pip fails after the stamp check, as an interrupted install would.
    lock.write_text(good + "wheel==0.48.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")

    failed = _bootstrap(repo)

    assert failed.returncode != 0
    assert "do not match the hashes" in failed.stderr.lower(), failed.stderr
    assert _stamps(repo) == [], "a failed install must not leave a stamp saying it is done"
    # Back to the lock the venv was once installed from: installed again, not skipped.
    lock.write_text(good)
    again = _bootstrap(repo)
    assert again.returncode == 0, again.stderr
    [stamp] = _stamps(repo)
    assert _venv_runs(repo, "-c", "import probe")
    # Done now: the next run only checks.
    before = stamp.stat().st_mtime_ns
    quiet = _bootstrap(repo)
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert _stamps(repo) == [stamp] and stamp.stat().st_mtime_ns == before


def test_a_python_outside_requires_python_is_refused_with_a_clear_message(repo: Path) -> None:
    _write_pyproject(repo, ">=3.99")

    result = _bootstrap(repo)

    assert result.returncode == 1
    version = ".".join(str(part) for part in sys.version_info[:3])
    assert f"is Python {version}; llm-gateway needs Python >=3.99" in result.stderr
    assert "PYTHON=" in result.stderr  # how to point it at another interpreter
    assert not (repo / ".venv").exists()
