"""Shared facts for the deployment-artefact tests (Dockerfile, compose, Kubernetes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.task_messages import TOOLS_QUEUE

REPO_ROOT = Path(__file__).resolve().parents[2]
PROVIDERS_FILE = REPO_ROOT / "config" / "providers.yaml"
TOOLS_FILE = REPO_ROOT / "config" / "tools.yaml"
# Where every app container finds the config files (the image's copy or a mount over it).
APP_PROVIDERS_FILE = "/app/config/providers.yaml"
APP_TOOLS_FILE = "/app/config/tools.yaml"
# Base URLs of the tools' downstream services; every worker needs both.
TOOL_SERVICE_URL_VARS = ("LLM_GATEWAY_SEMANTIC_SEARCH_URL", "LLM_GATEWAY_AI_AGENTS_URL")

# Used when config/providers.yaml does not exist (yet).
DEFAULT_INSTANCES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


def _instances_from(data: Any) -> dict[str, str]:
    """Map each provider instance name to the env var holding its API key."""
    instances = (data or {}).get("instances") or {}
    if isinstance(instances, dict):
        items = [{"name": name, **(spec or {})} for name, spec in instances.items()]
    else:
        items = list(instances)
    result: dict[str, str] = {}
    for item in items:
        name = str(item["name"])
        result[name] = str(item.get("api_key_env") or f"{name.upper()}_API_KEY")
    return result


def load_provider_instances(path: Path = PROVIDERS_FILE) -> dict[str, str]:
    if not path.exists():
        return dict(DEFAULT_INSTANCES)
    return _instances_from(yaml.safe_load(path.read_text(encoding="utf-8")))


def load_tool_names(path: Path = TOOLS_FILE) -> set[str]:
    """Names of the tools a tools.yaml-shaped file defines."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(tool["name"]) for tool in data.get("tools") or []}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def read_provider_instances() -> Callable[[Path], dict[str, str]]:
    """Reader for a providers.yaml-shaped file: instance name -> API-key env var."""
    return load_provider_instances


@pytest.fixture(scope="session")
def provider_instances() -> dict[str, str]:
    """Provider instance name -> API-key env var, from config/providers.yaml."""
    instances = load_provider_instances()
    assert instances, "config/providers.yaml lists no provider instances"
    return instances


@pytest.fixture(scope="session")
def expected_queues(provider_instances: dict[str, str]) -> set[str]:
    """One Celery queue per provider instance: llm.<instance name>."""
    return {f"llm.{name}" for name in provider_instances}


@pytest.fixture(scope="session")
def worker_queues(expected_queues: set[str]) -> set[str]:
    """Every queue some worker must consume: the provider queues plus tool jobs."""
    return expected_queues | {TOOLS_QUEUE}


@pytest.fixture(scope="session")
def provider_secret_env_names(provider_instances: dict[str, str]) -> set[str]:
    """Env vars that carry provider credentials and must reach workers only."""
    return set(provider_instances.values()) | set(DEFAULT_INSTANCES.values())
