"""``llm-gateway api`` refuses a bad configuration with one clear line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT, free_port


def run_api(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLM_GATEWAY_API_KEYS": "t:k", **env_overrides}
    return subprocess.run(
        [sys.executable, "-m", "cli", "api", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"LLM_GATEWAY_API_KEYS": ""}, "LLM_GATEWAY_API_KEYS is empty"),
        ({"LLM_GATEWAY_API_KEYS": "no-tenant-here"}, "tenant:key"),
        ({"LLM_GATEWAY_PORT": "abc"}, "port"),
        ({"LLM_GATEWAY_PROVIDERS_FILE": "/nonexistent/providers.yaml"}, "cannot read providers"),
        ({"LLM_GATEWAY_STORAGE_FILE": "/nonexistent/storage.yaml"}, "cannot read storage file"),
    ],
    ids=["no-keys", "malformed-keys", "bad-port", "missing-providers-file", "missing-storage-file"],
)
def test_bad_configuration_exits_2_with_one_clear_message(
    overrides: dict[str, str], expected: str
) -> None:
    result = run_api(overrides)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_provider_type_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text("instances:\n  a: {type: skynet}\n")
    result = run_api({"LLM_GATEWAY_PROVIDERS_FILE": str(path)})
    assert result.returncode == 2
    assert "instances.a.type" in result.stderr and "Traceback" not in result.stderr


def test_an_invalid_storage_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "storage.yaml"
    path.write_text("storage_instances:\n  a: {type: ftp, access: {allowed_buckets: [b]}}\n")
    result = run_api({"LLM_GATEWAY_STORAGE_FILE": str(path)})
    assert result.returncode == 2
    assert "storage_instances.a.type" in result.stderr and "Traceback" not in result.stderr
