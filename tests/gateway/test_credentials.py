"""Credential sources tried in order: env, mounted files, Vault over HTTP, the SDK chain."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from gateway.credentials import (
    NO_CREDENTIALS,
    CredentialResolver,
    CredentialsMissing,
    CredentialSource,
)

API_KEY = (frozenset({"api_key"}),)
AWS = (frozenset({"access_key_id", "secret_access_key"}),)
VAULT_TOKEN = "hvs.test-vault-token-0001"
SECRET = "sk-from-vault-SECRET-5566778899"
SOURCES: TypeAdapter[list[CredentialSource]] = TypeAdapter(list[CredentialSource])


def sources(*items: dict[str, Any]) -> list[CredentialSource]:
    return SOURCES.validate_python(list(items))


class _Vault(BaseHTTPRequestHandler):
    """Answers like Vault's KV engines: v2 at secret/data/*, v1 at kv/*."""

    secrets: dict[str, dict[str, Any]] = {
        "/v1/secret/data/openai": {"data": {"data": {"api_key": SECRET}, "metadata": {}}},
        "/v1/kv/aws": {"data": {"key_id": "AKIAVAULT", "secret": "vault-aws-secret-key"}},
    }
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        type(self).seen.append({"path": self.path, **dict(self.headers)})
        body = self.secrets.get(self.path)
        if self.headers.get("X-Vault-Token") != VAULT_TOKEN:
            self._reply(403, {"errors": ["permission denied"]})
        elif body is None:
            self._reply(404, {"errors": []})
        else:
            self._reply(200, body)

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def vault_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Vault)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_env_source_reads_the_named_variables() -> None:
    resolver = CredentialResolver({"OPENAI_API_KEY": "sk-env"})
    found = resolver.resolve(
        sources({"type": "env", "vars": {"api_key": "OPENAI_API_KEY"}}), API_KEY
    )
    assert (found.get("api_key"), found.source, found.ambient) == (
        "sk-env",
        "env OPENAI_API_KEY",
        False,
    )


def test_file_source_reads_a_mounted_secret_and_strips_the_newline(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("sk-from-file\n")
    found = CredentialResolver({}).resolve(
        sources({"type": "file", "files": {"api_key": str(tmp_path / "key")}}), API_KEY
    )
    assert found.get("api_key") == "sk-from-file"


def test_sources_are_tried_in_order_until_one_is_complete(tmp_path: Path, vault_url: str) -> None:
    (tmp_path / "key").write_text("sk-from-file")
    chain = sources(
        {"type": "workload_identity"},
        {"type": "vault", "address": vault_url, "path": "secret/data/missing"},
        {"type": "env", "vars": {"api_key": "UNSET"}},
        {"type": "file", "files": {"api_key": str(tmp_path / "key")}},
    )
    found = CredentialResolver({"VAULT_TOKEN": VAULT_TOKEN}).resolve(chain, API_KEY, lambda: False)
    assert found.source == f"file {tmp_path / 'key'}"


def test_a_source_missing_one_field_does_not_count() -> None:
    env = {"AWS_ID": "AKIA1", "AWS_KEY": ""}
    chain = sources(
        {"type": "env", "vars": {"access_key_id": "AWS_ID", "secret_access_key": "AWS_KEY"}}
    )
    with pytest.raises(CredentialsMissing, match="access_key_id\\+secret_access_key"):
        CredentialResolver(env).resolve(chain, AWS)


def test_vault_kv2_secret_is_read_with_the_token(vault_url: str) -> None:
    chain = sources({"type": "vault", "address": vault_url, "path": "secret/data/openai"})
    found = CredentialResolver({"VAULT_TOKEN": VAULT_TOKEN}).resolve(chain, API_KEY)
    assert found.get("api_key") == SECRET
    assert found.source == "vault secret/data/openai"


def test_vault_kv1_fields_are_mapped_and_the_token_can_come_from_a_file(
    vault_url: str, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text(VAULT_TOKEN + "\n")
    chain = sources(
        {
            "type": "vault",
            "address": vault_url,
            "path": "kv/aws",
            "fields": {"access_key_id": "key_id", "secret_access_key": "secret"},
            "token_env": "NO_SUCH_VAR",
            "token_file": str(tmp_path / "token"),
            "namespace": "team-a",
        }
    )
    _Vault.seen.clear()
    found = CredentialResolver({}).resolve(chain, AWS)
    assert found.get("secret_access_key") == "vault-aws-secret-key"
    assert _Vault.seen[-1]["X-Vault-Namespace"] == "team-a"


def test_vault_refusal_or_an_unreachable_vault_falls_through(vault_url: str) -> None:
    chain = sources(
        {"type": "vault", "address": vault_url, "path": "secret/data/openai"},
        {"type": "vault", "address": "http://127.0.0.1:9", "path": "secret/data/openai"},
        {"type": "env", "vars": {"api_key": "OPENAI_API_KEY"}},
    )
    env = {"VAULT_TOKEN": "wrong-token", "OPENAI_API_KEY": "sk-env"}
    assert CredentialResolver(env).resolve(chain, API_KEY).source == "env OPENAI_API_KEY"


def test_workload_identity_defers_to_the_sdk_chain_when_the_probe_finds_one() -> None:
    found = CredentialResolver({}).resolve(
        sources({"type": "workload_identity"}), AWS, ambient=lambda: True
    )
    assert found.ambient and not found.fields


def test_nothing_found_names_every_source_tried_and_no_value(vault_url: str) -> None:
    chain = sources(
        {"type": "workload_identity"},
        {"type": "vault", "address": vault_url, "path": "secret/data/openai"},
        {"type": "env", "vars": {"api_key": "OPENAI_API_KEY"}},
    )
    with pytest.raises(CredentialsMissing) as caught:
        CredentialResolver({"VAULT_TOKEN": "nope"}).resolve(chain, API_KEY, lambda: False)
    message = str(caught.value)
    assert "workload_identity, vault secret/data/openai, env OPENAI_API_KEY" in message
    assert SECRET not in message


def test_no_sources_configured_means_no_credentials_needed() -> None:
    assert CredentialResolver({}).resolve([], API_KEY) is NO_CREDENTIALS


def test_redact_removes_every_value_and_each_line_of_a_key_file(tmp_path: Path) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    (tmp_path / "key.pem").write_text(pem)
    found = CredentialResolver({}).resolve(
        sources({"type": "file", "files": {"private_key": str(tmp_path / "key.pem")}}),
        (frozenset({"private_key"}),),
    )
    text = f"signing failed for {pem}; line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    assert "MIIEvQ" not in found.redact(text)
    assert "[redacted]" in found.redact(text)


def test_redact_finds_a_pem_inside_a_json_key_file(tmp_path: Path) -> None:
    pem = (
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    )
    account = json.dumps({"type": "service_account", "private_key": pem, "client_id": "1"})
    (tmp_path / "sa.json").write_text(account)
    found = CredentialResolver({}).resolve(
        sources({"type": "file", "files": {"service_account_json": str(tmp_path / "sa.json")}}),
        (frozenset({"service_account_json"}),),
    )
    escaped = json.dumps(pem)  # how the key shows up inside any JSON text
    for text in (f"bad key {escaped}", f"bad key {pem}", "line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"):
        assert "MIIEvQ" not in found.redact(text), text
