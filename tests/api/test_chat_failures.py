"""Failure paths of the synchronous endpoint: timeout (504 with the job id), a job
cancelled while the caller waits (409), a provider that keeps rate-limiting (429)."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import KEY_A
from tests.support.processes import Process, Stack, free_port, wait_until


def ask(text: str) -> dict[str, object]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}


@pytest.fixture
def impatient_api(stack: Stack, tmp_path: Path) -> Iterator[str]:
    """A second API process on the same stack whose sync endpoint waits only 0.5 s."""
    port = free_port()
    env = {**stack.env, "LLM_GATEWAY_SYNC_TIMEOUT_SECONDS": "0.5"}
    api = Process(
        "api-impatient",
        [sys.executable, "-m", "cli", "api", "--port", str(port)],
        env,
        tmp_path / "api.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/health").status_code == 200, 30, "impatient api")
        yield url
    finally:
        api.stop()


def test_sync_timeout_is_504_and_job_can_still_be_fetched(
    impatient_api: str, client_a: httpx.Client
) -> None:
    slow = '<<emulator:{"latency_ms": 1500}>>'
    response = httpx.post(
        f"{impatient_api}/v1/chat/completions", json=ask(slow),
        headers={"Authorization": f"Bearer {KEY_A}"}, timeout=10,
    )  # fmt: skip
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout"
    job_id = response.headers["x-llm-gateway-job-id"]
    assert job_id in response.json()["error"]["message"]
    done = client_a.get(f"/v1/jobs/{job_id}/wait", params={"timeout": 10}).json()
    assert done["status"] == "succeeded"


def test_job_cancelled_during_sync_wait_is_409(client_a: httpx.Client) -> None:
    outcome: list[httpx.Response] = []
    caller = threading.Thread(
        target=lambda: outcome.append(
            client_a.post("/v1/chat/completions", json=ask('<<emulator:{"latency_ms": 2000}>>'))
        )
    )
    caller.start()
    deadline = time.monotonic() + 10
    job_id = None
    while job_id is None and time.monotonic() < deadline:
        jobs = client_a.get("/v1/jobs", params={"status": "running"}).json()["data"]
        job_id = jobs[0]["id"] if jobs else None
        time.sleep(0.02)
    assert job_id is not None
    assert client_a.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    caller.join()
    assert outcome[0].status_code == 409
    assert outcome[0].json()["error"]["type"] == "cancelled"
    assert outcome[0].headers["x-llm-gateway-job-id"] == job_id


def test_provider_rate_limit_after_retries_is_sdk_rate_limit_error(stack: Stack) -> None:
    limited = "<<emulator:" + json.dumps({"status": 429, "retry_after": 0.2}) + ">>"
    with (
        openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_A, max_retries=0) as sdk,
        pytest.raises(openai.RateLimitError) as info,
    ):
        sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": limited}]
        )
    body = info.value.body
    assert isinstance(body, dict) and re.search(r"after \d+ attempts", str(body.get("message")))
    # The provider's last retry-after, rounded up to whole seconds as the header takes them.
    assert info.value.response.headers["retry-after"] == "1"
