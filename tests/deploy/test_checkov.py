"""checkov on the rendered manifests (base and every overlay) and on every Dockerfile:
no failed check but those deploy/checkov-skips.yaml lists with a reason. checkov runs
from its own venv (.venv-checkov, scripts/test_deps.sh); missing, the test fails."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.rendering import BASE, OVERLAYS, REPO_ROOT, rendered_text

SKIPS_FILE = REPO_ROOT / "deploy" / "checkov-skips.yaml"
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
DOCKERFILES = sorted(REPO_ROOT.glob("Dockerfile*"))


def skips() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load(SKIPS_FILE.read_text("utf-8"))["skips"]
    return entries


def skipped_for(target: str) -> list[str]:
    return [s["id"] for s in skips() if target in s["targets"]]


def checkov(args: list[str], target: str) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `bash scripts/test_deps.sh`")
    command = [str(CHECKOV), *args, "--quiet", "--compact", "--output", "json"]
    command += ["--skip-download"]  # offline: no guidelines from the vendor's API
    if skipped_for(target):
        command += ["--skip-check", ",".join(skipped_for(target))]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, cwd=REPO_ROOT
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{f['check_id']} {f['check_name']}: {f['resource']} ({f['file_path']})"
        for r in reports
        for f in r.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "\n".join(failed)
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    assert passed > 0, f"checkov checked nothing:\n{result.stdout[-2000:]}"
    return reports[0]


def test_every_skip_says_why_and_names_known_targets() -> None:
    known = {BASE.name, *(o.name for o in OVERLAYS), "dockerfiles"}
    for skip in skips():
        assert skip["id"].startswith("CKV"), skip
        assert len(skip["reason"].split()) >= 10, f"{skip['id']}: say why"
        assert set(skip["targets"]) <= known, skip


@pytest.mark.parametrize("target", [BASE, *OVERLAYS], ids=lambda p: p.name)
def testrendered_text_manifests_pass_checkov(target: Path, tmp_path: Path) -> None:
    manifest = tmp_path / f"{target.name}.yaml"
    manifest.write_text(rendered_text(target), encoding="utf-8")
    checkov(["--framework", "kubernetes", "--file", str(manifest)], target.name)


def test_dockerfiles_pass_checkov() -> None:
    assert {p.name for p in DOCKERFILES} >= {"Dockerfile", "Dockerfile.dev"}
    args = ["--framework", "dockerfile"]
    for path in DOCKERFILES:
        args += ["--file", str(path)]
    checkov(args, "dockerfiles")
