"""The storage file: storage instances, the route each answers on, its credentials, its
access rules and its presign bounds (``config/storage.yaml``; docs/storage.md).

``${VAR}`` and ``${VAR:-default}`` are replaced from the environment like in the providers
file, so the shipped file points the ``local`` route at a local S3 by default."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.config_files import ConfigFileError, interpolate_env
from gateway.credentials import CredentialSource

StorageType = Literal["s3", "azure_blob", "gcs"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# SigV4 (S3) and V4 signed URLs (GCS) cannot outlive seven days.
SIGNED_URL_MAX_SECONDS = 7 * 24 * 3600


class StorageFileError(ConfigFileError):
    """The storage file is missing or invalid; raised at start-up, never per request."""


class AccessConfig(BaseModel):
    """Which buckets the route reaches, and which key prefixes inside them it never does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_buckets: list[str] = Field(min_length=1)
    # Compared after key normalization and case-insensitively (storage.access).
    denied_prefixes: list[str] = Field(default_factory=list)


class PresignConfig(BaseModel):
    """Bounds on a presigned URL's lifetime, in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_ttl: int = Field(default=3600, ge=1)
    min_ttl: int = Field(default=300, ge=1)
    max_ttl: int = Field(default=86_400, ge=1, le=SIGNED_URL_MAX_SECONDS)

    @model_validator(mode="after")
    def _ordered(self) -> PresignConfig:
        if not self.min_ttl <= self.default_ttl <= self.max_ttl:
            raise ValueError("presign: need min_ttl <= default_ttl <= max_ttl")
        return self


class StorageInstanceConfig(BaseModel):
    """One storage instance: a store account reached under ``/-s3/<route_name>/``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    type: StorageType
    # The path segment clients name; defaults to the instance's name.
    route_name: str = ""
    region: str | None = None
    # S3: an S3-compatible endpoint (MinIO, moto); Azure: the account's blob URL
    # (https://<account>.blob.core.windows.net); GCS: an emulator or private endpoint.
    endpoint_url: str | None = None
    # S3 only: "path" for stores that need it (MinIO, moto); "auto" lets boto3 choose.
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    # GCS: the project that owns the buckets (defaults to the credentials' project).
    project: str | None = None
    # Tried in order when the API starts; see gateway.credentials. Fields per type:
    # s3 access_key_id + secret_access_key (+ session_token); azure_blob account_name +
    # account_key; gcs service_account_json. workload_identity: the SDK's default chain.
    credentials: list[CredentialSource] = Field(default_factory=list)
    access: AccessConfig
    presign: PresignConfig = Field(default_factory=PresignConfig)
    timeout_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _route_defaults_to_name(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("route_name"):
            data = {**data, "route_name": data.get("name", "")}
        return data

    @model_validator(mode="after")
    def _check(self) -> StorageInstanceConfig:
        if not _NAME.match(self.route_name):
            raise ValueError(f"route_name {self.route_name!r}: use lowercase letters, digits, -_")
        if self.type == "azure_blob" and not self.endpoint_url:
            raise ValueError(f"instance {self.name!r}: azure_blob needs endpoint_url")
        return self


class StorageConfig(BaseModel):
    """The whole storage file. No instances is valid: the storage routes then answer 404."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    storage_instances: dict[str, StorageInstanceConfig] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _name_instances(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("storage_instances"), dict):
            named = {}
            for name, body in data["storage_instances"].items():
                if not isinstance(name, str) or not _NAME.match(name):
                    raise ValueError(f"instance name {name!r}: use lowercase letters, digits, -_")
                named[name] = {**body, "name": name} if isinstance(body, dict) else body
            data = {**data, "storage_instances": named}
        return data

    @model_validator(mode="after")
    def _unique_routes(self) -> StorageConfig:
        seen: dict[str, str] = {}
        for inst in self.storage_instances.values():
            other = seen.setdefault(inst.route_name, inst.name)
            if other != inst.name:
                raise ValueError(
                    f"route {inst.route_name!r} is served by {other!r} and {inst.name!r}"
                )
        return self

    def by_route(self) -> dict[str, StorageInstanceConfig]:
        return {inst.route_name: inst for inst in self.storage_instances.values()}


def load_storage(path: Path | None, environ: Mapping[str, str] | None = None) -> StorageConfig:
    """Read and validate the storage file (``None``: no storage configured); every problem
    is a ``StorageFileError``."""
    if path is None:
        return StorageConfig()
    env = os.environ if environ is None else environ
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StorageFileError(f"cannot read storage file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(interpolate_env(raw, env, "storage file", StorageFileError))
        return StorageConfig.model_validate(data or {})
    except yaml.YAMLError as exc:
        raise StorageFileError(f"storage file {path} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise StorageFileError(f"storage file {path} is invalid: {exc}") from exc
