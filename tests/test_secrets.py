"""Secrets never appear in logs, errors, job records or responses."""

from __future__ import annotations

import json
import time

import httpx
import redis

from tests.conftest import ANTHROPIC_SECRET, KEY_A, KEY_B, OPENAI_SECRET
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
