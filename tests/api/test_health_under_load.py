"""The bad thing itself: many clients send the heaviest request the default limits allow,
at once and over and over, and ``/health`` must keep answering meanwhile.

Before the limits and the off-loop parsing, one such request (5,000 tools) held the event
loop for seconds. The bound here is generous (the strict number is the bench's:
``bench/health_under_load.py``, docs/benchmarks.md)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.settings import Settings
from tests.conftest import KEY_A
from tests.support.heavy_lane import lane_count, wait_for_lane
from tests.support.processes import Stack

CLIENTS = 8
REQUESTS_PER_CLIENT = 4
# Served by no worker: the jobs stay queued, and the test's clean-up removes them.
PARKED_MODEL = "standby-model"


@pytest.fixture(scope="module")
def api_url(stack: Stack) -> Iterator[str]:
    """An API process with the default limits (the shared one's body limit is 64 KiB) and
    its heavy lane on (the test stack has it off), once the lane is up."""
    fields = Settings.model_fields
    env = {
        "LLM_GATEWAY_MAX_BODY_BYTES": str(fields["max_body_bytes"].default),
        "LLM_GATEWAY_HEAVY_LANE_BODY_BYTES": str(fields["heavy_lane_body_bytes"].default),
    }
    url = stack.start_extra_api("api-default-limits", env)
    process = stack.processes["api-default-limits"].proc
    assert process is not None
    wait_for_lane(url, process.pid, KEY_A)
    yield url
    stack.stop_process("api-default-limits")


def heaviest_allowed() -> dict[str, Any]:
    """As many tools as allowed, each with a wide, deep schema, filling the body limit:
    the most JSON values (so the most parsing and checking) a request may carry."""
    fields = Settings.model_fields
    body_bytes: int = fields["max_body_bytes"].default
    tools: int = fields["request_max_tools"].default
    # A property is 41 bytes of JSON; 600 a tool leaves for its envelope and nesting.
    per_tool = min(fields["request_max_schema_bytes"].default, body_bytes // tools) - 600
    leaf = {"type": "string", "maxLength": 8}
    properties = {f"p{i:05d}": leaf for i in range(per_tool // 41)}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    for _ in range(10):  # 22 levels deep, within the default 32
        schema = {"type": "object", "properties": {"x": schema}}
    request = {
        "model": PARKED_MODEL,
        "messages": [{"role": "user", "content": "pick one"}],
        "tools": [
            {"type": "function", "function": {"name": f"tool_{i}", "parameters": schema}}
            for i in range(tools)
        ],
    }
    return {"type": "completion", "request": request}


def test_health_keeps_answering_while_clients_flood_the_heaviest_allowed_requests(
    api_url: str,
) -> None:
    job = heaviest_allowed()
    bodies = [orjson.dumps({**job, "idempotency_key": f"flood-{i}"}) for i in range(CLIENTS)]
    limit = Settings.model_fields["max_body_bytes"].default
    assert 0.95 * limit < len(bodies[0]) <= limit
    statuses: Counter[int] = Counter()
    probes: list[float] = []
    probe_statuses: Counter[int] = Counter()
    done = threading.Event()

    def flood(body: bytes) -> None:
        headers = {"Authorization": f"Bearer {KEY_A}", "content-type": "application/json"}
        with httpx.Client(base_url=api_url, headers=headers, timeout=120) as client:
            for _ in range(REQUESTS_PER_CLIENT):
                statuses[client.post("/v1/jobs", content=body).status_code] += 1

    def probe() -> None:
        with httpx.Client(base_url=api_url, timeout=30) as client:
            while not done.is_set():
                started = time.perf_counter()
                probe_statuses[client.get("/health").status_code] += 1
                probes.append(time.perf_counter() - started)
                time.sleep(0.02)

    # A fresh process builds a router's routes on its first request (FastAPI, once): not
    # what this test is about.
    headers = {"Authorization": f"Bearer {KEY_A}"}
    assert httpx.post(f"{api_url}/v1/jobs", json={}, headers=headers).status_code == 422
    forwarded = lane_count(api_url, "forwarded")
    prober = threading.Thread(target=probe)
    prober.start()
    senders = [threading.Thread(target=flood, args=(body,)) for body in bodies]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    done.set()
    prober.join()

    # Every heavy request was taken (the first of each key stored, the rest repeats of it).
    assert statuses == {202: CLIENTS, 200: CLIENTS * (REQUESTS_PER_CLIENT - 1)}
    # Every one of them went through the sibling.
    assert lane_count(api_url, "forwarded") == forwarded + CLIENTS * REQUESTS_PER_CLIENT
    assert set(probe_statuses) == {200}
    assert len(probes) >= 20, "the probe must have run throughout the flood"
    assert max(probes) < 1.0, f"/health took {max(probes):.2f} s under the flood"
