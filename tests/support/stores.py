"""Real local object stores for the storage tests, each a process on a free loopback port:
moto's S3 server, Azurite (Azure Blob, in memory) and gcp-storage-emulator (GCS, in
memory), plus the gateway's API alone (Redis, no workers) with a storage file pointing at
them. Loaded as a pytest plugin by tests/conftest.py; every fixture is session-scoped and
started only by the tests that use it.

Azurite comes from npm: ``npm ci --prefix tests/support/azurite`` (``.ci/run`` does it).
Google's client refreshes an OAuth token before each call; the GCS emulator ignores
tokens, so a stand-in token endpoint in this process answers the service account's
exchange (the signed URLs are signed with its real RSA key all the same)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.local_env import emulator_env, service_account
from gateway.settings import hash_api_key
from tests.support.processes import ROOT, Process, RedisServer, Stack, free_port, wait_until

# Azurite's documented development account (public, the same in every install).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
S3_KEY_ID = "testing-access-key"
S3_SECRET = "testing-secret-key-0123456789"
STORAGE_KEY_A = "key-storage-tenant-a-0123456789"
STORAGE_KEY_B = "key-storage-tenant-b-9876543210"
BUCKET = "rag-docs"
OTHER_BUCKET = "public-data"
NOT_ALLOWED_BUCKET = "private-data"
MISSING_BUCKET = "missing-bucket"
# Small enough that a 50 MB upload is refused only by a test that asks for more.
MAX_OBJECT_BYTES = 64 * 1024 * 1024
AZURITE_BIN = ROOT / "tests" / "support" / "azurite" / "node_modules" / ".bin" / "azurite-blob"


@dataclass
class StoreServer:
    url: str
    process: Process

    def stop(self) -> None:
        self.process.stop()


def _start(name: str, argv: list[str], tmp: Path, ready: str, seconds: float = 60) -> Process:
    process = Process(name, argv, dict(os.environ), tmp / f"{name}.log").start()
    try:
        wait_until(lambda: httpx.get(ready, timeout=2).status_code < 500, seconds, name)
    except TimeoutError:
        process.stop()
        raise
    return process


@pytest.fixture(scope="session")
def moto_s3(session_tmp: Path) -> Iterator[StoreServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    assert moto, "moto_server is missing: install the dev dependencies (scripts/bootstrap.sh)"
    process = _start("moto", [moto, "-H", "127.0.0.1", "-p", str(port)], session_tmp, url)
    client = s3_client(url)
    for bucket in (BUCKET, OTHER_BUCKET, NOT_ALLOWED_BUCKET):
        client.create_bucket(Bucket=bucket)
    yield StoreServer(url, process)
    process.stop()


def s3_client(url: str) -> Any:
    """boto3 straight to the store, as the tests' own eyes (and the bench's baseline)."""
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )


@pytest.fixture(scope="session")
def azurite(session_tmp: Path) -> Iterator[StoreServer]:
    if not AZURITE_BIN.exists():
        pytest.fail("Azurite is not installed: npm ci --prefix tests/support/azurite")
    port = free_port()
    url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    argv = [
        str(AZURITE_BIN),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        # The Python SDK may speak a newer service version than this Azurite knows.
        "--skipApiVersionCheck",
        "--disableTelemetry",
    ]
    process = _start("azurite", argv, session_tmp, f"{url}?comp=list")
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient(
        url, credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
    )
    for bucket in (BUCKET, OTHER_BUCKET, NOT_ALLOWED_BUCKET):
        service.create_container(bucket)
    yield StoreServer(url, process)
    process.stop()


class _TokenHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps(
            {"access_token": "local-token", "expires_in": 3600, "token_type": "Bearer"}
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class GcsEmulator(StoreServer):
    service_account_json: str = ""


@pytest.fixture(scope="session")
def gcs_emulator(session_tmp: Path) -> Iterator[GcsEmulator]:
    tokens = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    threading.Thread(target=tokens.serve_forever, daemon=True).start()
    token_uri = f"http://127.0.0.1:{tokens.server_address[1]}/token"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    account = json.dumps(service_account(pem, token_uri))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    emulator = shutil.which("gcp-storage-emulator", path=str(Path(sys.executable).parent))
    assert emulator, "gcp-storage-emulator is missing: install the dev dependencies"
    argv = [emulator, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q"]
    process = _start("gcs", argv, session_tmp, url)
    for bucket in (BUCKET, OTHER_BUCKET, NOT_ALLOWED_BUCKET):
        httpx.post(f"{url}/storage/v1/b", params={"project": "test"}, json={"name": bucket})
    yield GcsEmulator(url, process, account)
    process.stop()
    tokens.shutdown()


def storage_file(
    path: Path, s3_url: str | None, azure_url: str | None, gcs: GcsEmulator | None
) -> Path:
    """A storage file with one route per store given: s3, azure, gcs."""
    access = {
        # MISSING_BUCKET is allowed but exists in no store: the store's refusal is a 502.
        "allowed_buckets": [BUCKET, OTHER_BUCKET, MISSING_BUCKET],
        "denied_prefixes": ["secret/", "internal/"],
    }
    # 1 s is allowed so the expiry tests wait only a moment.
    presign = {"default_ttl": 600, "min_ttl": 1, "max_ttl": 3600}
    instances: dict[str, Any] = {}
    if s3_url:
        instances["s3"] = {
            "type": "s3",
            "endpoint_url": s3_url,
            "addressing_style": "path",
            "credentials": [
                {
                    "type": "env",
                    "vars": {
                        "access_key_id": "TEST_S3_ACCESS_KEY_ID",
                        "secret_access_key": "TEST_S3_SECRET_ACCESS_KEY",
                    },
                }
            ],
            "access": access,
            "presign": presign,
        }
    if azure_url:
        instances["azure"] = {
            "type": "azure_blob",
            "endpoint_url": azure_url,
            "credentials": [{"type": "env", "vars": {"account_key": "TEST_AZURE_STORAGE_KEY"}}],
            "access": access,
            "presign": presign,
        }
    if gcs:
        key_file = path.parent / "gcs-service-account.json"
        key_file.write_text(gcs.service_account_json)
        instances["gcs"] = {
            "type": "gcs",
            "endpoint_url": gcs.url,
            "credentials": [{"type": "file", "files": {"service_account_json": str(key_file)}}],
            "access": access,
            "presign": presign,
        }
    # A route whose credentials are nowhere, and one whose store is down.
    instances["nocreds"] = {
        "type": "s3",
        "credentials": [
            {
                "type": "env",
                "vars": {
                    "access_key_id": "TEST_UNSET_KEY_ID",
                    "secret_access_key": "TEST_UNSET_SECRET",
                },
            }
        ],
        "access": access,
    }
    instances["down"] = {**instances["s3"], "endpoint_url": "http://127.0.0.1:9"} if s3_url else {}
    path.write_text(
        yaml.safe_dump({"storage_instances": {k: v for k, v in instances.items() if v}})
    )
    return path


@dataclass
class StorageApi:
    url: str
    stack: Stack

    @property
    def pid(self) -> int:
        proc = self.stack.processes["storage-api"].proc
        assert proc is not None
        return proc.pid


@pytest.fixture(scope="session")
def storage_api(
    session_tmp: Path,
    redis_server: RedisServer,
    moto_s3: StoreServer,
    azurite: StoreServer,
    gcs_emulator: GcsEmulator,
) -> Iterator[StorageApi]:
    """The API alone (no workers: storage needs none) serving the three stores."""
    tmp = session_tmp / "storage-api"
    tmp.mkdir(exist_ok=True)
    env = {
        **os.environ,
        # Provider instances only need to load: they point at nothing that runs.
        **emulator_env("http://127.0.0.1:9", tmp / "credentials"),
        "LLM_GATEWAY_REDIS_URL": redis_server.url,
        "LLM_GATEWAY_API_KEYS": f"tenant_a:{STORAGE_KEY_A},"
        f"tenant_b:sha256:{hash_api_key(STORAGE_KEY_B)}",
        "LLM_GATEWAY_STORAGE_FILE": str(
            storage_file(tmp / "storage.yaml", moto_s3.url, azurite.url, gcs_emulator)
        ),
        "LLM_GATEWAY_STORAGE_MAX_OBJECT_BYTES": str(MAX_OBJECT_BYTES),
        "TEST_S3_ACCESS_KEY_ID": S3_KEY_ID,
        "TEST_S3_SECRET_ACCESS_KEY": S3_SECRET,
        "TEST_AZURE_STORAGE_KEY": AZURITE_KEY,
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("LLM_GATEWAY_AUTH_DISABLED", None)
    stack = Stack(tmp=tmp, redis=redis_server, env=env)
    try:
        url = stack.start_extra_api("storage-api")
        yield StorageApi(url, stack)
    finally:
        stack.stop()
