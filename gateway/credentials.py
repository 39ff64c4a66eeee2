"""Credentials for provider and storage instances: an ordered list of sources per instance.

The seed's strategy list (workload identity, then vault, then a Kubernetes secret) is a
``credentials:`` list in the providers file and in the storage file; the first source that
yields every field the instance's type needs wins::

    credentials:
      - type: workload_identity            # the SDK's default chain (IRSA, GKE, OCI, Azure)
      - type: vault                        # HashiCorp Vault KV (v1 or v2) over HTTP
        address: https://vault.internal:8200
        path: secret/data/bedrock
        fields: {access_key_id: key_id, secret_access_key: secret}
      - type: file                         # a mounted Kubernetes secret
        files: {api_key: /var/run/secrets/openai/api-key}
      - type: env
        vars: {api_key: OPENAI_API_KEY}

Worker processes resolve provider credentials (the API routes by configuration alone); the
API resolves storage instances' credentials, since it talks to the stores itself. Values
live in :class:`Credentials`, whose ``repr`` hides them and whose :meth:`~Credentials.redact`
scrubs them out of any text that may become public (error messages, logs).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvSource(_Source):
    """Credential fields from environment variables: ``{field: VARIABLE}``."""

    type: Literal["env"]
    vars: dict[str, str]

    def describe(self) -> str:
        return "env " + "/".join(self.vars.values())


class FileSource(_Source):
    """Credential fields from files, one value per file (a mounted Kubernetes secret or
    a file a Vault agent renders): ``{field: path}``. Surrounding whitespace is stripped."""

    type: Literal["file"]
    files: dict[str, str]

    def describe(self) -> str:
        return "file " + ",".join(self.files.values())


class VaultSource(_Source):
    """Credential fields from a HashiCorp Vault secret read over HTTP (KV v1 or v2).

    ``fields`` maps a credential field to the key inside the secret; without it the
    secret's keys are the field names. The Vault token comes from ``token_env`` or, if that
    is unset, ``token_file`` (e.g. one written by the Vault agent).
    """

    type: Literal["vault"]
    address: str
    path: str
    fields: dict[str, str] = Field(default_factory=dict)
    token_env: str = "VAULT_TOKEN"  # noqa: S105 - the variable name
    token_file: str | None = None
    namespace: str | None = None
    timeout_seconds: float = Field(default=5.0, gt=0)

    def describe(self) -> str:
        return f"vault {self.path}"


class WorkloadIdentitySource(_Source):
    """The provider SDK's own default chain: IRSA / web identity and instance roles on AWS,
    GKE workload identity and ``GOOGLE_APPLICATION_CREDENTIALS`` on Google Cloud, Azure
    workload or managed identity, OCI resource or instance principals."""

    type: Literal["workload_identity"]

    def describe(self) -> str:
        return "workload_identity"


CredentialSource = Annotated[
    EnvSource | FileSource | VaultSource | WorkloadIdentitySource, Field(discriminator="type")
]


class CredentialsMissing(Exception):
    """No source yielded the credentials; the message names sources, never values."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """Resolved secret material for one instance.

    ``fields`` holds the values (hidden from ``repr``); ``ambient`` means the SDK's default
    chain supplies them and ``fields`` is empty; ``source`` says where they came from.
    """

    source: str
    fields: Mapping[str, str] = field(default_factory=dict, repr=False)
    ambient: bool = False

    def get(self, name: str) -> str | None:
        return self.fields.get(name) or None

    def require(self, name: str) -> str:
        value = self.fields.get(name)
        if not value:
            raise CredentialsMissing(f"credential field {name!r} is missing ({self.source})")
        return value

    def redact(self, text: str) -> str:
        """``text`` with every credential value (8+ characters) replaced by ``[redacted]``,
        and every long line of one (a PEM key, a key file's JSON) on its own too."""
        for secret in self._secrets():
            text = text.replace(secret, "[redacted]")
        return text

    def _secrets(self) -> list[str]:
        found: set[str] = set()
        for value in self.fields.values():
            if len(value) < 8:
                continue
            found.add(value)
            # A PEM key leaks line by line; inside a JSON key file its newlines are "\n".
            for leaf in [value, *_json_strings(value)]:
                lines = leaf.replace("\\n", "\n").splitlines()
                found.update(part for part in [leaf, *lines] if len(part) >= 16)
        # Longest first, so a whole value goes before the lines inside it.
        return sorted(found, key=len, reverse=True)


def _json_strings(value: str) -> list[str]:
    """Every string inside ``value`` if it is a JSON document (a service-account key)."""
    if not value.lstrip().startswith(("{", "[")):
        return []
    try:
        document = json.loads(value)
    except ValueError:
        return []
    out: list[str] = []
    stack: list[object] = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


NO_CREDENTIALS = Credentials(source="none")

AmbientProbe = Callable[[], bool]
"""Whether the SDK's default chain can find credentials here (no secret is returned)."""

HttpGet = Callable[[str, Mapping[str, str], float], httpx.Response]


def _http_get(url: str, headers: Mapping[str, str], timeout: float) -> httpx.Response:
    return httpx.get(url, headers=dict(headers), timeout=timeout)


@dataclass(frozen=True, slots=True)
class CredentialResolver:
    """Tries an instance's sources in order. ``required`` lists acceptable field sets (any
    one complete set suffices); an empty ``required`` means the type needs no credentials.
    An instance with no sources at all needs none (adapters then send a placeholder)."""

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    http_get: HttpGet = _http_get

    def resolve(
        self,
        sources: Sequence[CredentialSource],
        required: Sequence[frozenset[str]],
        ambient: AmbientProbe | None = None,
    ) -> Credentials:
        if not sources:
            # Nothing configured: a keyless server (a local vLLM, Ollama, the emulator).
            return NO_CREDENTIALS
        tried: list[str] = []
        for source in sources:
            tried.append(source.describe())
            if isinstance(source, WorkloadIdentitySource):
                if ambient is not None and ambient():
                    return Credentials(source=source.describe(), ambient=True)
                continue
            found = self._read(source)
            if found is not None and _complete(found, required):
                return Credentials(source=source.describe(), fields=found)
        names = " or ".join("+".join(sorted(fields)) for fields in required)
        listed = ", ".join(tried) if tried else "no credentials configured"
        raise CredentialsMissing(f"no credentials ({names}) found; tried {listed}")

    def _read(self, source: EnvSource | FileSource | VaultSource) -> dict[str, str] | None:
        match source:
            case EnvSource():
                return _present({k: self.environ.get(v, "") for k, v in source.vars.items()})
            case FileSource():
                return _present({k: _read_file(Path(p)) for k, p in source.files.items()})
            case VaultSource():
                return self._read_vault(source)

    def _read_vault(self, source: VaultSource) -> dict[str, str] | None:
        token = self.environ.get(source.token_env, "") or (
            _read_file(Path(source.token_file)) if source.token_file else ""
        )
        if not token:
            return None
        headers = {"X-Vault-Token": token}
        if source.namespace:
            headers["X-Vault-Namespace"] = source.namespace
        url = f"{source.address.rstrip('/')}/v1/{source.path.lstrip('/')}"
        try:
            response = self.http_get(url, headers, source.timeout_seconds)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        try:
            data = response.json().get("data")
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        # KV v2 nests the secret under data.data; KV v1 puts it at data.
        nested = data.get("data")
        secret: dict[str, object] = nested if isinstance(nested, dict) else data
        wanted = source.fields or {str(k): str(k) for k in secret}
        return _present({k: str(secret.get(v) or "") for k, v in wanted.items()})


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _present(values: Mapping[str, str]) -> dict[str, str] | None:
    found = {k: v for k, v in values.items() if v}
    return found or None


def _complete(found: Mapping[str, str], required: Iterable[frozenset[str]]) -> bool:
    sets = list(required)
    return not sets or any(fields <= found.keys() for fields in sets)
