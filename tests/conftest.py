"""Session fixtures: a real redis-server, the emulator, the API and Celery workers, each a
real process; per-test cleanup of job state and the emulator's script."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from emulator import EmulatorControl
from emulator.downstream import DownstreamControl
from gateway.settings import hash_api_key
from tests.support.processes import ROOT, RedisServer, Stack, free_port

# The object stores and the API-only process of the storage tests (session fixtures).
pytest_plugins = ["tests.support.stores"]

KEY_A = "key-tenant-a-0123456789"
KEY_B = "key-tenant-b-9876543210"
# Provider credentials the workers hold; tests assert they never leak.
OPENAI_SECRET = "sk-test-openai-SECRET-0f9e8d7c6b5a"
ANTHROPIC_SECRET = "sk-ant-test-SECRET-a1b2c3d4e5f6"
# The rest of the fleet's secrets (the Vertex and OCI private keys are generated files).
BEDROCK_SECRET = "bedrock-test-SECRET-wJalrXUtnFEMI-K7MDENG"
AZURE_SECRET = "azure-test-SECRET-3f2e1d0c9b8a7f6e"
WATSONX_SECRET = "watsonx-test-SECRET-Zm9vYmFyYmF6cXV4"
# Tenant A's webhook signing secret (Standard Webhooks form); tenant B's is derived from the
# signing key.
WEBHOOK_SECRET_A = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WEBHOOK_SIGNING_KEY = "test-webhook-signing-key-5a4b3c2d1e"
# Webhook retries within seconds: 7 attempts over about 4.5 s, then dead-lettered.
WEBHOOK_SCHEDULE = "0.2s,0.3s,0.5s,0.7s,1s,1.5s"
# The instances of config/providers.yaml beyond openai/anthropic: one worker serves them all.
FLEET_INSTANCES = ("bedrock-us", "bedrock-eu", "azure", "vertex", "ollama", "watsonx", "oci")


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def redis_server(session_tmp: Path) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), session_tmp / "redis", session_tmp / "redis.log").start()
    yield server
    server.stop()


# Instances for the limits and failure tests, beside the shipped openai/anthropic ones.
# All are served by the emulator through the OpenAI wire protocol.
TEST_INSTANCES: dict[str, dict[str, Any]] = {
    "limited-rpm": {"models": ["limited-rpm-model"], "limits": {"rpm": 60}},
    "limited-tpm": {"models": ["limited-tpm-model"], "limits": {"tpm": 2000}},
    "limited-conc": {"models": ["limited-conc-model"], "limits": {"max_concurrency": 5}},
    "single-file": {"models": ["single-file-model"], "limits": {"max_concurrency": 1}},
    "slow": {"models": ["slow-model"]},
    "cooling": {"models": ["cooling-model"]},
    "unstable": {"models": ["unstable-model"], "circuit": {"failure_threshold": 50}},
    "fragile": {
        "models": ["fragile-model"],
        "circuit": {"failure_threshold": 3, "reset_seconds": 2},
    },
    "primary": {"models": ["fallback-model"], "fallbacks": ["secondary"]},
    "secondary": {"models": ["secondary-model"]},
    # Its fallback is "standby", which no worker serves: never a fallback then.
    "stranded": {"models": ["stranded-model"], "fallbacks": ["standby"]},
    # No worker consumes this queue until a test starts one. It comes first for
    # staffed-model by configuration; routing picks "staffed", which a worker serves.
    "standby": {"models": ["standby-model", "staffed-model"]},
    "staffed": {"models": ["staffed-model"]},
    # Credentials nowhere to be found: workers disable it; "keyed" serves its model instead.
    "keyless": {
        "models": ["shared-model"],
        "credentials": [{"type": "env", "vars": {"api_key": "LLM_GATEWAY_TEST_UNSET_KEY"}}],
    },
    "keyed": {"models": ["shared-model"], "priority": 1},
}
LIMIT_QUEUES = ",".join(f"llm.{name}" for name in TEST_INSTANCES if name != "standby")


def write_test_providers(path: Path) -> Path:
    """config/providers.yaml plus ``TEST_INSTANCES``."""
    config = yaml.safe_load((ROOT / "config" / "providers.yaml").read_text())
    # A model pulled into Ollama routes within a second, not the shipped 30.
    config["instances"]["ollama"]["discovery_seconds"] = 1
    for name, body in TEST_INSTANCES.items():
        config["instances"][name] = {
            "type": "openai",
            "base_url": "${OPENAI_BASE_URL}",
            "api_key_env": "OPENAI_API_KEY",
            **body,
        }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def stack(session_tmp: Path, redis_server: RedisServer) -> Iterator[Stack]:
    """API + emulator + one worker per shipped provider queue + three worker processes for
    the test instances' queues, sharing one Redis."""
    env = {
        **os.environ,
        "LLM_GATEWAY_REDIS_URL": redis_server.url,
        # Tenant B's key is configured in hashed form, as production should.
        "LLM_GATEWAY_API_KEYS": f"tenant_a:{KEY_A},tenant_b:sha256:{hash_api_key(KEY_B)}",
        "LLM_GATEWAY_LOG_JSON": "true",
        "LLM_GATEWAY_LOG_LEVEL": "INFO",
        "LLM_GATEWAY_RETRY_BACKOFF_SECONDS": "0.05",
        "LLM_GATEWAY_RETRY_BACKOFF_MAX_SECONDS": "0.2",
        "LLM_GATEWAY_WORKER_HEARTBEAT_SECONDS": "1",
        "LLM_GATEWAY_MAX_BODY_BYTES": "65536",
        # No heavy-lane sibling per API (a second start-up for each): the lane's own tests
        # and the flood test turn it on (tests/support/heavy_lane.py).
        "LLM_GATEWAY_HEAVY_LANE_BODY_BYTES": "0",
        # Streams waiting for a worker say so every second, not every 15.
        "LLM_GATEWAY_STREAM_KEEPALIVE_SECONDS": "1",
        "LLM_GATEWAY_PROVIDERS_FILE": str(write_test_providers(session_tmp / "providers.yaml")),
        # Crash recovery within seconds: leases renewed every ~1.3 s, lapse after 4 s.
        "LLM_GATEWAY_JOB_LEASE_SECONDS": "4",
        # Tools: quick retries, and a circuit that opens after 3 failures for 2 s.
        "LLM_GATEWAY_TOOL_RETRY_BACKOFF_SECONDS": "0.05",
        "LLM_GATEWAY_TOOL_TIMEOUT_SECONDS": "10",
        "LLM_GATEWAY_TOOL_CIRCUIT_FAILURE_THRESHOLD": "3",
        "LLM_GATEWAY_TOOL_CIRCUIT_RESET_SECONDS": "2",
        # Webhook receivers and document servers of the tests listen on loopback; the SSRF
        # tests use 127.0.0.1 itself, which stays refused.
        "LLM_GATEWAY_OUTBOUND_ALLOWLIST": "localhost",
        "LLM_GATEWAY_WEBHOOK_SECRETS": f"tenant_a:{WEBHOOK_SECRET_A}",
        "LLM_GATEWAY_WEBHOOK_SIGNING_KEY": WEBHOOK_SIGNING_KEY,
        "LLM_GATEWAY_WEBHOOK_RETRY_SCHEDULE": WEBHOOK_SCHEDULE,
        "LLM_GATEWAY_WEBHOOK_TIMEOUT_SECONDS": "3",
        "LLM_GATEWAY_WEBHOOK_LEASE_SECONDS": "5",
        "OPENAI_API_KEY": OPENAI_SECRET,
        "ANTHROPIC_API_KEY": ANTHROPIC_SECRET,
        "BEDROCK_SECRET_ACCESS_KEY": BEDROCK_SECRET,
        "AZURE_OPENAI_API_KEY": AZURE_SECRET,
        "WATSONX_API_KEY": WATSONX_SECRET,
        # No instance-metadata probing on a machine that is not in a cloud.
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("LLM_GATEWAY_AUTH_DISABLED", None)
    running = Stack(tmp=session_tmp, redis=redis_server, env=env)
    try:
        running.start_emulator()
        running.start_downstream()
        running.start_api()
        running.env["LLM_GATEWAY_PUBLIC_URL"] = running.api_url
        running.start_worker("openai", "llm.openai")
        running.start_worker("tools", "llm.tools")
        running.start_worker("webhooks", "llm.webhooks")
        running.start_worker("anthropic", "llm.anthropic")
        running.start_worker("fleet", ",".join(f"llm.{name}" for name in FLEET_INSTANCES))
        for i in (1, 2, 3):
            running.start_worker(f"limits{i}", LIMIT_QUEUES)
        yield running
    finally:
        running.stop()


@pytest.fixture
def emulator(stack: Stack) -> Iterator[EmulatorControl]:
    control = EmulatorControl(stack.emulator_url)
    control.reset()
    yield control
    control.reset()


@pytest.fixture
def downstream(stack: Stack) -> Iterator[Stack]:
    """The stack with its downstream stand-in up, healthy and with nothing recorded, before
    and after the test (a test may take it down)."""

    def healthy() -> None:
        if "downstream" not in stack.processes:
            stack.start_downstream()
        DownstreamControl(stack.downstream_url).reset()

    healthy()
    yield stack
    healthy()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def isolated_redis(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A database of the session's Redis that no worker touches (their upkeep threads pump
    and reap in database 0), emptied after the test."""
    client = redis.Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/1")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(autouse=True)
def _clean_job_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Remove job records, indexes and idempotency keys left by the previous test."""
    yield
    if "redis_server" not in request.fixturenames:
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    client = redis.Redis.from_url(server.url)
    for pattern in (
        "llmgw:job:*",
        "llmgw:tenant:*",
        "llmgw:idem:*",
        "llmgw:idem-batch:*",
        "llmgw:limit:*",
        "llmgw:circuit:*",
        "llmgw:tool-circuit:*",
        "llmgw:session:*",
        "llmgw:batch:*",
        "llmgw:webhooks:*",
        "llmgw:usage:*",
        "llmgw:running",
        "llmgw:deferred",
    ):
        for key in client.scan_iter(pattern, count=1000):
            client.delete(key)
    client.close()


def _client(stack: Stack, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


@pytest.fixture
def client_a(stack: Stack, emulator: EmulatorControl) -> Iterator[httpx.Client]:
    with _client(stack, KEY_A) as client:
        yield client


@pytest.fixture
def client_b(stack: Stack, emulator: EmulatorControl) -> Iterator[httpx.Client]:
    # Tenant B authenticates with X-API-Key, the other accepted header.
    with httpx.Client(base_url=stack.api_url, headers={"X-API-Key": KEY_B}, timeout=30) as c:
        yield c
