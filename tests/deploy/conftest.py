"""Shared facts for the deployment-artefact tests (Dockerfile, compose, Kubernetes).

What each provider instance needs comes from ``config/providers.yaml`` itself: its
``credentials`` list (or the ``api_key_env`` shorthand) names the secret environment
variables and key files, and every ``${VAR:-default}`` in its entry is a setting the
deployments may override (endpoints, projects, ...). Nothing assumes ``<NAME>_API_KEY``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.queues import TOOLS_QUEUE, WEBHOOKS_QUEUE
from gateway.settings import Settings
from tasks.webhooks.secrets import WebhookSecrets

REPO_ROOT = Path(__file__).resolve().parents[2]
PROVIDERS_FILE = REPO_ROOT / "config" / "providers.yaml"
TOOLS_FILE = REPO_ROOT / "config" / "tools.yaml"
# Where every app container finds the config files (the image's copy or a mount over it).
APP_PROVIDERS_FILE = "/app/config/providers.yaml"
APP_TOOLS_FILE = "/app/config/tools.yaml"
# Base URLs of the tools' downstream services; every worker but the webhooks worker needs both.
TOOL_SERVICE_URL_VARS = ("LLM_GATEWAY_SEMANTIC_SEARCH_URL", "LLM_GATEWAY_AI_AGENTS_URL")
# Queues of the workers that call no provider: tool jobs, and webhook deliveries.
SERVICE_QUEUES = frozenset({TOOLS_QUEUE, WEBHOOKS_QUEUE})
# Webhook signing secrets: the API and the webhooks worker get them, nothing else.
WEBHOOK_SECRET_VARS = ("LLM_GATEWAY_WEBHOOK_SECRETS", "LLM_GATEWAY_WEBHOOK_SIGNING_KEY")
# The SSRF guard's allowlist: one value for the API and every worker.
OUTBOUND_ALLOWLIST_VAR = "LLM_GATEWAY_OUTBOUND_ALLOWLIST"
# Where results links in webhook events point (the webhooks worker reads it).
PUBLIC_URL_VAR = "LLM_GATEWAY_PUBLIC_URL"

# The same syntax providers/config.py substitutes: ${VAR} or ${VAR:-default}.
ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


@dataclass(frozen=True)
class CredentialFile:
    """One file of a ``file`` credential source: its path (the default, if the path is a
    ``${VAR:-default}``) and the variable that may move it."""

    path: str
    var: str | None = None


@dataclass(frozen=True)
class ProviderInstance:
    """What deploying one provider instance involves, read from its providers.yaml entry."""

    name: str
    type: str = ""
    # Env vars of its ``env`` credential sources (or ``api_key_env``): secrets.
    secret_env: frozenset[str] = frozenset()
    # Files of its ``file`` credential sources, in order.
    files: tuple[CredentialFile, ...] = ()
    # Type of its first ``env``/``file`` source: the route the shipped manifests use.
    primary: str | None = None
    workload_identity: bool = False
    # The API asks its server for its models (``discover_models``: Ollama's /api/tags).
    discovers_models: bool = False
    # Every ${VAR} in the entry (endpoints, projects, key-file paths, ...) -> its default.
    settings: dict[str, str | None] = field(default_factory=dict)

    @property
    def queue(self) -> str:
        return f"llm.{self.name}"

    @property
    def url_vars(self) -> set[str]:
        """Settings that are provider URLs (their default is one): endpoints, IAM/token URLs."""
        return {
            k for k, v in self.settings.items() if (v or "").startswith(("http://", "https://"))
        }

    @property
    def mounted_files(self) -> tuple[CredentialFile, ...]:
        """Key files the manifests must provide: those of a file-first instance."""
        return self.files if self.primary == "file" else ()


# Used when config/providers.yaml does not exist (yet).
DEFAULT_INSTANCES = {
    "openai": ProviderInstance("openai", "openai", frozenset({"OPENAI_API_KEY"}), primary="env"),
    "anthropic": ProviderInstance(
        "anthropic", "anthropic", frozenset({"ANTHROPIC_API_KEY"}), primary="env"
    ),
}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _credential_file(path: str) -> CredentialFile:
    match = ENV_REF.fullmatch(path.strip())
    if match is None:
        return CredentialFile(path=path)
    return CredentialFile(path=match.group("default") or "", var=match.group("name"))


def _instance(name: str, spec: dict[str, Any]) -> ProviderInstance:
    sources = list(spec.get("credentials") or [])
    if not sources and spec.get("api_key_env"):
        sources = [{"type": "env", "vars": {"api_key": spec["api_key_env"]}}]
    secret_env: set[str] = set()
    files: list[CredentialFile] = []
    primary = None
    for source in sources:
        kind = source.get("type")
        if kind == "env":
            secret_env |= {str(v) for v in (source.get("vars") or {}).values()}
        elif kind == "file":
            files += [_credential_file(str(p)) for p in (source.get("files") or {}).values()]
        if primary is None and kind in ("env", "file"):
            primary = kind
    settings: dict[str, str | None] = {}
    for text in _strings(spec):
        for match in ENV_REF.finditer(text):
            settings.setdefault(match.group("name"), match.group("default"))
    return ProviderInstance(
        name=name,
        type=str(spec.get("type", "")),
        secret_env=frozenset(secret_env),
        files=tuple(files),
        primary=primary,
        workload_identity=any(s.get("type") == "workload_identity" for s in sources),
        discovers_models=bool(spec.get("discover_models")),
        settings=settings,
    )


def _instances_from(data: Any) -> dict[str, ProviderInstance]:
    """Each provider instance of a providers.yaml-shaped document, by name."""
    instances = (data or {}).get("instances") or {}
    if isinstance(instances, dict):
        items = [{"name": name, **(spec or {})} for name, spec in instances.items()]
    else:
        items = list(instances)
    return {str(item["name"]): _instance(str(item["name"]), item) for item in items}


def load_provider_instances(path: Path = PROVIDERS_FILE) -> dict[str, ProviderInstance]:
    if not path.exists():
        return dict(DEFAULT_INSTANCES)
    return _instances_from(yaml.safe_load(path.read_text(encoding="utf-8")))


def settings_field(var: str) -> str:
    """The ``Settings`` field an ``LLM_GATEWAY_*`` variable sets; fails if there is none."""
    name = var.removeprefix("LLM_GATEWAY_").lower()
    assert var.startswith("LLM_GATEWAY_"), f"{var} is not an LLM_GATEWAY_* setting"
    assert name in Settings.model_fields, f"{var} sets no field of gateway/settings.py"
    return name


def webhook_secrets_for(env: Mapping[str, str]) -> WebhookSecrets:
    """What a process given ``env``'s webhook variables signs with (ValueError if malformed).
    Only ``env`` counts: a variable it lacks takes the field's default, not this process's."""
    fields = {settings_field(var): var for var in WEBHOOK_SECRET_VARS}
    values = {f: env.get(var, Settings.model_fields[f].default) for f, var in fields.items()}
    return WebhookSecrets.from_settings(Settings.model_validate(values))


def load_tool_names(path: Path = TOOLS_FILE) -> set[str]:
    """Names of the tools a tools.yaml-shaped file defines."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(tool["name"]) for tool in data.get("tools") or []}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def read_provider_instances() -> Callable[[Path], dict[str, ProviderInstance]]:
    """Reader for a providers.yaml-shaped file: instance name -> what it needs."""
    return load_provider_instances


@pytest.fixture(scope="session")
def provider_instances() -> dict[str, ProviderInstance]:
    """Provider instance name -> what it needs, from config/providers.yaml."""
    instances = load_provider_instances()
    assert instances, "config/providers.yaml lists no provider instances"
    return instances


@pytest.fixture(scope="session")
def expected_queues(provider_instances: dict[str, ProviderInstance]) -> set[str]:
    """One Celery queue per provider instance: llm.<instance name>."""
    return {inst.queue for inst in provider_instances.values()}


@pytest.fixture(scope="session")
def worker_queues(expected_queues: set[str]) -> set[str]:
    """Every queue some worker must consume: the provider queues, tool jobs and webhooks."""
    return expected_queues | SERVICE_QUEUES


@pytest.fixture(scope="session")
def provider_secret_env_names(provider_instances: dict[str, ProviderInstance]) -> set[str]:
    """Env vars that carry provider credentials and must reach their own workers only."""
    names = {var for inst in provider_instances.values() for var in inst.secret_env}
    return names | {var for inst in DEFAULT_INSTANCES.values() for var in inst.secret_env}


@pytest.fixture(scope="session")
def provider_setting_env_names(provider_instances: dict[str, ProviderInstance]) -> set[str]:
    """Every variable some instance's entry reads (settings and credentials)."""
    names = {var for inst in provider_instances.values() for var in inst.settings}
    return names | {var for inst in provider_instances.values() for var in inst.secret_env}
