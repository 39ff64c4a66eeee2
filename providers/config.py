"""The providers file: provider instances, the models they serve, credentials and limits.

``${VAR}`` and ``${VAR:-default}`` in the YAML are replaced from the environment
(``gateway.config_files``), so one file serves the local stack (emulator defaults) and
production (real base URLs and keys).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.config_files import ConfigFileError, interpolate_env
from gateway.credentials import CredentialSource, EnvSource
from gateway.queues import instance_queue

ProviderType = Literal[
    "openai", "anthropic", "azure_openai", "bedrock", "vertex", "ollama", "watsonx", "oci"
]

_INSTANCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class ProvidersFileError(ConfigFileError):
    """The providers file is missing or invalid; raised at start-up, never per request."""


class Limits(BaseModel):
    """Per-instance limits, enforced globally across every worker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, gt=0)
    # Tokens reserved for the reply when a request sets no ``max_tokens`` (``tpm`` only).
    reply_tokens_estimate: int = Field(default=1024, gt=0)


class CircuitConfig(BaseModel):
    """When to stop calling an instance that keeps failing, and when to probe it again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Consecutive failures (5xx, timeouts, connection errors), counted across all workers.
    failure_threshold: int = Field(default=5, ge=1)
    reset_seconds: float = Field(default=30.0, gt=0)


class ModelPrice(BaseModel):
    """USD per million tokens, for ``cost_usd`` on job records (an embedding model has no
    output tokens: ``output_per_mtok`` may be left out)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok
        ) / 1e6


class CapabilityOverrides(BaseModel):
    """Per-instance corrections to the provider type's capabilities (e.g. a model served
    through Ollama that cannot call tools, or a smaller output limit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: bool | None = None
    vision: bool | None = None
    documents: bool | None = None
    max_output_tokens: int | None = Field(default=None, gt=0)


class InstanceConfig(BaseModel):
    """One provider instance: one queue, one set of credentials and limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    type: ProviderType
    base_url: str | None = None
    # Name of the environment variable holding the API key; the key itself never appears here.
    # Shorthand for ``credentials: [{type: env, vars: {api_key: NAME}}]``.
    api_key_env: str | None = None
    # Tried in order at worker start-up; see ``gateway.credentials``.
    credentials: list[CredentialSource] = Field(default_factory=list)
    # Cloud placement, for the types that need it (Bedrock, Vertex, OCI, Azure).
    region: str | None = None
    project: str | None = None
    api_version: str | None = None
    models: list[str] = Field(default_factory=list)
    model_patterns: list[str] = Field(default_factory=list)
    # Models served for ``/v1/embeddings`` (and ``embedding`` jobs) only; ``models`` and
    # patterns are chat models. A name is one kind everywhere: see ``ProvidersConfig``.
    embedding_models: list[str] = Field(default_factory=list)
    # Gateway model name → the name the upstream API expects (e.g. a Bedrock model id).
    model_map: dict[str, str] = Field(default_factory=dict)
    # Azure-style: deployment name → the gateway model it serves (folded into model_map).
    deployments: dict[str, str] = Field(default_factory=dict)
    # Ask the server for its models (Ollama ``/api/tags``) every ``discovery_seconds``.
    discover_models: bool = False
    discovery_seconds: float = Field(default=30.0, gt=0)
    capabilities: CapabilityOverrides = Field(default_factory=CapabilityOverrides)
    limits: Limits = Field(default_factory=Limits)
    circuit: CircuitConfig = Field(default_factory=CircuitConfig)
    timeout_seconds: float = Field(default=120.0, gt=0)
    # Used in order on 429, 5xx, timeouts or an open circuit: an instance name (same model
    # there) or a model name (routed like a request for it).
    fallbacks: list[str] = Field(default_factory=list)
    # Among instances serving one model: lower ``priority`` first; equal priorities share
    # traffic by ``weight`` (0: only when nothing else can take it).
    priority: int = 0
    weight: int = Field(default=1, ge=0)
    options: dict[str, str] = Field(default_factory=dict)
    # Gateway model name → price; models without one get ``cost_usd: null``.
    prices: dict[str, ModelPrice] = Field(default_factory=dict)

    @field_validator("api_version", "project", "region", mode="before")
    @classmethod
    def _scalar_as_text(cls, value: object) -> object:
        # ${VAR} is substituted before YAML parsing, so "2024-10-21" arrives as a date and a
        # numeric project id as an int: these fields are always text.
        if isinstance(value, date | int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @model_validator(mode="after")
    def _fold_deployments(self) -> InstanceConfig:
        for deployment, model in self.deployments.items():
            if self.model_map.get(model, deployment) != deployment:
                raise ValueError(f"model {model!r} is mapped twice (model_map and deployments)")
            self.model_map[model] = deployment
        return self

    @property
    def credential_sources(self) -> list[CredentialSource]:
        """``credentials``, or the ``api_key_env`` shorthand as an env source."""
        if self.credentials:
            return list(self.credentials)
        if self.api_key_env:
            return [EnvSource(type="env", vars={"api_key": self.api_key_env})]
        return []

    @property
    def queue(self) -> str:
        """The Celery queue this instance's jobs go to."""
        return instance_queue(self.name)

    def upstream_model(self, model: str) -> str:
        return self.model_map.get(model, model)


class ProvidersConfig(BaseModel):
    """The whole providers file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_model: str | None = None
    instances: dict[str, InstanceConfig]

    @model_validator(mode="before")
    @classmethod
    def _name_instances(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("instances"), dict):
            named = {}
            for name, body in data["instances"].items():
                if not isinstance(name, str) or not _INSTANCE_NAME.match(name):
                    raise ValueError(f"instance name {name!r}: use lowercase letters, digits, -_")
                named[name] = {**body, "name": name} if isinstance(body, dict) else body
            data = {**data, "instances": named}
        return data

    @property
    def embedding_models(self) -> frozenset[str]:
        """Every model some instance serves for embeddings."""
        return frozenset(m for inst in self.instances.values() for m in inst.embedding_models)

    @model_validator(mode="after")
    def _check_references(self) -> ProvidersConfig:
        if not self.instances:
            raise ValueError("no provider instances configured")
        self._check_model_kinds()
        models = {
            m
            for inst in self.instances.values()
            for m in [*inst.models, *inst.model_map, *inst.embedding_models]
        }
        patterns = [p for inst in self.instances.values() for p in inst.model_patterns]
        for inst in self.instances.values():
            for fb in inst.fallbacks:
                known = fb in self.instances or fb in models
                if not known and not any(fnmatch.fnmatchcase(fb, p) for p in patterns):
                    raise ValueError(
                        f"instance {inst.name!r}: fallback {fb!r} is neither an instance "
                        "nor a model any instance serves"
                    )
                if fb == inst.name:
                    raise ValueError(f"instance {inst.name!r} lists itself as a fallback")
        return self

    def _check_model_kinds(self) -> None:
        """A model name is an embedding model on every instance or on none, so a request
        is refused the same way wherever it would be routed: an instance listing an
        embedding model among its chat ``models``, or mapping one (``model_map``,
        ``deployments``) without listing it in its ``embedding_models``, is a mistake."""
        embedding = self.embedding_models
        for inst in self.instances.values():
            if inst.embedding_models and inst.type == "anthropic":
                raise ValueError(
                    f"instance {inst.name!r}: Anthropic has no embeddings API; "
                    "embedding_models cannot be served there"
                )
            for model in inst.models:
                if model in embedding:
                    raise ValueError(
                        f"instance {inst.name!r}: {model!r} is an embedding model elsewhere; "
                        "list it under embedding_models, not models"
                    )
            for model in inst.model_map:
                if model in embedding and model not in inst.embedding_models:
                    raise ValueError(
                        f"instance {inst.name!r} maps the embedding model {model!r}; "
                        "list it under its embedding_models too"
                    )


def load_providers(path: Path, environ: Mapping[str, str] | None = None) -> ProvidersConfig:
    """Read and validate the providers file; every problem is a ``ProvidersFileError``."""
    env = os.environ if environ is None else environ
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProvidersFileError(f"cannot read providers file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(interpolate_env(raw, env, "providers file", ProvidersFileError))
        return ProvidersConfig.model_validate(data)
    except yaml.YAMLError as exc:
        raise ProvidersFileError(f"providers file {path} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise ProvidersFileError(f"providers file {path} is invalid: {exc}") from exc
