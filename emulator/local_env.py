"""The environment that points every provider instance of ``config/providers.yaml`` at a
local emulator, with throwaway credentials the emulator accepts.

Used by ``llm-gateway up`` (only for variables the user has not set, so a real key or
endpoint wins) and by the test stack. The credentials are generated per run and are not
secrets of anything real: a fresh RSA key for the Vertex service account (whose token
exchange the emulator answers) and for OCI request signing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# Paths the emulator serves for the token exchanges (see the Vertex and watsonx protocols).
GOOGLE_TOKEN_PATH = "/token"  # noqa: S105 - a URL path
IBM_IAM_PATH = "/identity/token"
VERTEX_PROJECT = "llm-gateway-local"


def emulator_env(emulator_url: str, state_dir: Path) -> dict[str, str]:
    """Variables for every shipped instance; credential files are written to ``state_dir``."""
    merged: dict[str, str] = {}
    for variables in emulator_env_by_provider(emulator_url, state_dir).values():
        merged.update(variables)
    return merged


def emulator_env_by_provider(emulator_url: str, state_dir: Path) -> dict[str, dict[str, str]]:
    """The same variables grouped per provider, so a caller can take a provider's group
    whole or not at all (a real key must never be sent to the emulator's endpoint)."""
    url = emulator_url.rstrip("/")
    state_dir.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    account = _write_private(
        state_dir / "vertex-service-account.json",
        json.dumps(service_account(pem, f"{url}{GOOGLE_TOKEN_PATH}")),
    )
    oci_key = _write_private(state_dir / "oci-api-key.pem", pem)
    return {
        "openai": {"OPENAI_BASE_URL": f"{url}/v1", "OPENAI_API_KEY": "sk-emulator-openai"},
        "anthropic": {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "sk-ant-emulator"},
        "bedrock": {
            "BEDROCK_US_ENDPOINT": url,
            "BEDROCK_EU_ENDPOINT": url,
            "BEDROCK_ACCESS_KEY_ID": "AKIAEMULATOR00000001",
            "BEDROCK_SECRET_ACCESS_KEY": "emulator-bedrock-secret-access-key-0001",
        },
        "azure": {
            "AZURE_OPENAI_ENDPOINT": url,
            "AZURE_OPENAI_API_KEY": "emulator-azure-openai-key",
        },
        "vertex": {
            "VERTEX_ENDPOINT": url,
            "VERTEX_PROJECT": VERTEX_PROJECT,
            "VERTEX_SERVICE_ACCOUNT_FILE": str(account),
        },
        "ollama": {"OLLAMA_HOST": url},
        "watsonx": {
            "WATSONX_URL": url,
            "WATSONX_IAM_URL": url,
            "WATSONX_API_KEY": "emulator-watsonx-ibm-cloud-api-key",
        },
        "oci": {
            "OCI_GENAI_ENDPOINT": url,
            "OCI_PRIVATE_KEY_FILE": str(oci_key),
            "OCI_KEY_FINGERPRINT": fingerprint(key.public_key()),
        },
    }


def _write_private(path: Path, text: str) -> Path:
    """Write ``text`` readable by the owner only, from the first byte (no umask window)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    path.chmod(0o600)  # an existing file keeps its old mode through O_CREAT
    return path


def service_account(private_key_pem: str, token_uri: str) -> dict[str, str]:
    """A Google service-account key file whose token exchange goes to ``token_uri``."""
    return {
        "type": "service_account",
        "project_id": VERTEX_PROJECT,
        "private_key_id": hashlib.sha1(private_key_pem.encode()).hexdigest(),  # noqa: S324
        "private_key": private_key_pem,
        "client_email": f"gateway@{VERTEX_PROJECT}.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }


def fingerprint(public_key: rsa.RSAPublicKey) -> str:
    """OCI's API-key fingerprint: MD5 of the DER public key, colon-separated hex."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.md5(der).hexdigest()  # noqa: S324 - OCI defines the fingerprint so
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
