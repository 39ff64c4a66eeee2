"""A gateway stack for the document tests: its own Redis, the emulator, the API and one
worker, with a storage file whose ``s3`` route points at the session's moto server and
whose ``azure`` route at Azurite (which, unlike moto, refuses expired URLs), two
emulator instances (one that takes documents natively, one that does not) besides the
shipped Anthropic one, and a small document server on loopback that counts its requests."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from emulator import EmulatorControl
from emulator.local_env import emulator_env
from gateway.settings import hash_api_key
from tests.support.processes import ROOT, RedisServer, Stack, free_port
from tests.support.stores import (
    AZURITE_KEY,
    S3_KEY_ID,
    S3_SECRET,
    STORAGE_KEY_A,
    STORAGE_KEY_B,
    StoreServer,
    storage_file,
)

NATIVE_MODEL = "native-doc-model"  # an OpenAI-type instance: PDFs go as file parts
TEXT_MODEL = "text-doc-model"  # documents: false, so every document is inlined as text
# Served by an instance that takes documents, whose fallback does not: documents go as text.
FALLBACK_MODEL = "fallback-doc-model"
# Small, so a "too large" document is quick to make.
DOCUMENT_MAX_BYTES = 64 * 1024


@dataclass
class DocumentServer:
    """Serves ``documents[path] = (content type, body)`` on 127.0.0.1 and counts GETs."""

    port: int
    documents: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def url(self, path: str, host: str = "localhost") -> str:
        return f"http://{host}:{self.port}{path}"


def _handler(server: DocumentServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.hits[self.path] = server.hits.get(self.path, 0) + 1
            found = server.documents.get(self.path)
            if found is None:
                self.send_response(404)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            content_type, body = found
            self.send_response(200)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def start_document_server() -> tuple[DocumentServer, ThreadingHTTPServer]:
    """A ``DocumentServer`` serving on a free loopback port (``shutdown()`` the server)."""
    docs = DocumentServer(0)
    http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(docs))
    docs.port = http.server_address[1]
    threading.Thread(target=http.serve_forever, daemon=True).start()
    return docs, http


@pytest.fixture
def document_server() -> Iterator[DocumentServer]:
    docs, http = start_document_server()
    yield docs
    http.shutdown()


@dataclass
class RagStack:
    stack: Stack
    docs: DocumentServer

    def client(self, key: str = STORAGE_KEY_A) -> httpx.Client:
        return httpx.Client(
            base_url=self.stack.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )

    def emulator(self) -> EmulatorControl:
        return EmulatorControl(self.stack.emulator_url)


def _providers(path: Path) -> Path:
    config: dict[str, Any] = yaml.safe_load((ROOT / "config" / "providers.yaml").read_text())
    base = {"type": "openai", "base_url": "${OPENAI_BASE_URL}", "api_key_env": "OPENAI_API_KEY"}
    config["instances"]["docs-native"] = {**base, "models": [NATIVE_MODEL]}
    config["instances"]["docs-primary"] = {
        **base,
        "models": [FALLBACK_MODEL],
        "fallbacks": ["docs-text"],
    }
    config["instances"]["docs-text"] = {
        **base,
        "models": [TEXT_MODEL],
        "capabilities": {"documents": False},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def rag(session_tmp: Path, moto_s3: StoreServer, azurite: StoreServer) -> Iterator[RagStack]:
    tmp = session_tmp / "documents"
    tmp.mkdir(exist_ok=True)
    redis = RedisServer(free_port(), tmp / "redis", tmp / "redis.log").start()
    docs, http = start_document_server()
    env = {
        **os.environ,
        **emulator_env("http://127.0.0.1:9", tmp / "credentials"),
        "LLM_GATEWAY_REDIS_URL": redis.url,
        "LLM_GATEWAY_API_KEYS": f"tenant_a:{STORAGE_KEY_A},"
        f"tenant_b:sha256:{hash_api_key(STORAGE_KEY_B)}",
        "LLM_GATEWAY_PROVIDERS_FILE": str(_providers(tmp / "providers.yaml")),
        "LLM_GATEWAY_STORAGE_FILE": str(
            storage_file(tmp / "storage.yaml", moto_s3.url, azurite.url, None)
        ),
        "LLM_GATEWAY_DOCUMENT_MAX_BYTES": str(DOCUMENT_MAX_BYTES),
        # The document server is reached as localhost; 127.0.0.1 itself stays refused.
        "LLM_GATEWAY_OUTBOUND_ALLOWLIST": "localhost",
        "LLM_GATEWAY_WORKER_HEARTBEAT_SECONDS": "1",
        "LLM_GATEWAY_LOG_LEVEL": "INFO",
        "TEST_S3_ACCESS_KEY_ID": S3_KEY_ID,
        "TEST_S3_SECRET_ACCESS_KEY": S3_SECRET,
        "TEST_AZURE_STORAGE_KEY": AZURITE_KEY,
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("LLM_GATEWAY_AUTH_DISABLED", None)
    stack = Stack(tmp=tmp, redis=redis, env=env)
    try:
        stack.start_emulator()
        stack.start_api()
        stack.start_worker(
            "docs", "llm.docs-native,llm.docs-primary,llm.docs-text,llm.anthropic", concurrency=4
        )
        yield RagStack(stack, docs)
    finally:
        stack.stop()
        http.shutdown()
        redis.stop()


@pytest.fixture
def rag_emulator(rag: RagStack) -> Iterator[EmulatorControl]:
    control = rag.emulator()
    control.reset()
    yield control
    control.reset()
