"""Secrets never appear in logs, errors, job records or responses."""

from __future__ import annotations

import json
import time

import httpx
import redis

from tests.conftest import (
    ANTHROPIC_SECRET,
    AZURE_SECRET,
    BEDROCK_SECRET,
    KEY_A,
    KEY_B,
    OPENAI_SECRET,
    WATSONX_SECRET,
)
from tests.support.processes import Stack

SECRETS = (KEY_A, KEY_B, OPENAI_SECRET, ANTHROPIC_SECRET)


def test_no_secret_in_logs_records_or_responses(
    stack: Stack, client_a: httpx.Client, client_b: httpx.Client
) -> None:
    bodies: list[str] = []
    scripted = [
        "plain",
        '<<emulator:{"status": 401, "error": "invalid x-api-key"}>>',
        '<<emulator:{"status": 400, "error": "bad request"}>>',
        '<<emulator:{"status": 500}>>',
    ]
    ids = []
    for model in ("gpt-4o-mini", "claude-sonnet-4-5"):
        for text in scripted:
            body = {
                "type": "completion",
                "request": {"model": model, "messages": [{"role": "user", "content": text}]},
            }
            response = client_a.post("/v1/jobs", json=body)
            bodies.append(response.text)
            ids.append(response.json()["id"])
    for job_id in ids:
        bodies.append(client_a.get(f"/v1/jobs/{job_id}/wait", params={"timeout": 20}).text)
    bodies.append(client_b.get("/v1/jobs").text)
    bodies.append(
        httpx.get(f"{stack.api_url}/v1/jobs", headers={"Authorization": "Bearer nope"}).text
    )
    time.sleep(0.5)  # let the workers flush their last log lines

    client = redis.Redis.from_url(stack.redis.url)
    records = [
        json.dumps({k.decode(): v.decode() for k, v in client.hgetall(f"llmgw:job:{i}").items()})
        for i in ids
    ]
    client.close()
    logs = {name: process.output() for name, process in stack.processes.items()}

    assert all(json.loads(b) for b in bodies)
    for secret in SECRETS:
        for body in bodies:
            assert secret not in body
        for record in records:
            assert secret not in record
        for name, text in logs.items():
            assert secret not in text, f"{name} log leaks a secret"
    # The logs are real and correlated: JSON lines carrying request and job ids.
    api_lines = [json.loads(line) for line in logs["api"].splitlines() if line.startswith("{")]
    assert any(line.get("request_id") for line in api_lines)
    worker_lines = [
        json.loads(line) for line in logs["openai"].splitlines() if line.startswith("{")
    ]
    assert any(line.get("job_id") in ids and line.get("request_id") for line in worker_lines)


# One model served only by each fleet instance; every one is asked for a success, the
# provider's 401, 400 and 500, and a tool round.
FLEET_MODELS = {
    "bedrock-us": "meta.llama3-3-70b-instruct-v1:0",
    "bedrock-eu": "claude-sonnet-4-5",
    "azure": "gpt-4o-mini",
    "vertex": "gemini-2.5-flash",
    "ollama": "llama3.2",
    "watsonx": "ibm/granite-3-8b-instruct",
    "oci": "meta.llama-3.3-70b-instruct",
}


def _key_lines(stack: Stack) -> list[str]:
    """The generated private key (Vertex service account and OCI), line by line."""
    pem = (stack.tmp / "credentials" / "oci-api-key.pem").read_text()
    return [line for line in pem.splitlines() if len(line) > 40]


def test_no_fleet_credential_in_logs_records_errors_or_metrics(
    stack: Stack, client_a: httpx.Client
) -> None:
    secrets = [BEDROCK_SECRET, AZURE_SECRET, WATSONX_SECRET, *_key_lines(stack)]
    scripted = [
        "plain",
        '<<emulator:{"status": 401, "error": "invalid credentials"}>>',
        '<<emulator:{"status": 400, "error": "bad request"}>>',
        '<<emulator:{"status": 500}>>',
    ]
    bodies: list[str] = []
    ids: list[str] = []
    for instance, model in FLEET_MODELS.items():
        for text in scripted:
            request = {
                "model": model,
                "provider": instance,
                "messages": [{"role": "user", "content": text}],
            }
            response = client_a.post("/v1/jobs", json={"type": "completion", "request": request})
            assert response.status_code == 202, response.text
            bodies.append(response.text)
            ids.append(response.json()["id"])
    statuses = []
    for job_id in ids:
        done = client_a.get(f"/v1/jobs/{job_id}/wait", params={"timeout": 30})
        bodies.append(done.text)
        statuses.append((done.json()["provider"], done.json()["status"]))
    # Every instance really ran: one success and three failures each.
    for instance in FLEET_MODELS:
        mine = [status for name, status in statuses if name == instance]
        assert sorted(mine) == ["failed", "failed", "failed", "succeeded"], (instance, mine)
    bodies += [client_a.get(path).text for path in ("/v1/providers", "/v1/models")]
    bodies.append(httpx.get(f"{stack.api_url}/metrics").text)
    time.sleep(0.5)  # let the workers flush their last log lines

    client = redis.Redis.from_url(stack.redis.url)
    records = [
        json.dumps({k.decode(): v.decode() for k, v in client.hgetall(f"llmgw:job:{i}").items()})
        for i in ids
    ]
    client.close()
    logs = {name: process.output() for name, process in stack.processes.items()}
    for secret in secrets:
        for body in bodies:
            assert secret not in body
        for record in records:
            assert secret not in record
        for name, text in logs.items():
            assert secret not in text, f"{name} log leaks a secret"
