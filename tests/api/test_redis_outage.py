"""Redis down: the API answers 503 in the error shape, never a 500; when Redis comes back
(AOF on), the accepted job is still there, the API serves again, and a worker started
afterwards runs the job."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import httpx
import redis

from tests.support.processes import Process, RedisServer, free_port, wait_until

KEY = "outage-key-123456"
JOB = {
    "type": "completion",
    "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
}


def test_api_answers_503_while_redis_is_down_and_the_accepted_job_runs_after_restart(
    tmp_path: Path,
) -> None:
    redis_server = RedisServer(free_port(), tmp_path / "redis", tmp_path / "redis.log").start()
    port = free_port()
    env = {
        **os.environ,
        "LLM_GATEWAY_REDIS_URL": redis_server.url,
        "LLM_GATEWAY_API_KEYS": f"t:{KEY}",
        "LLM_GATEWAY_LOG_LEVEL": "WARNING",
    }
    api = Process(
        "api", [sys.executable, "-m", "cli", "api", "--port", str(port)], env, tmp_path / "api.log"
    ).start()
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {KEY}"}
    children: list[Process] = []
    try:
        wait_until(lambda: httpx.get(f"{url}/health").status_code == 200, 30, "api")
        accepted = httpx.post(f"{url}/v1/jobs", json=JOB, headers=headers)
        assert accepted.status_code == 202  # no worker: it stays queued
        job_id = accepted.json()["id"]

        client = redis.Redis.from_url(redis_server.url)
        assert client.llen("llm.openai:4") == 1  # its Celery message (priority 5)
        client.close()
        # A crash, not a clean shutdown: the AOF (fsync always in tests) must hold the job.
        assert redis_server.process is not None
        redis_server.process.kill(signal.SIGKILL)
        for method, path, body in (
            ("POST", "/v1/jobs", JOB),
            ("GET", f"/v1/jobs/{job_id}", None),
            ("GET", "/v1/jobs", None),
        ):
            response = httpx.request(method, f"{url}{path}", json=body, headers=headers)
            assert response.status_code == 503, (path, response.text)
            assert response.json()["error"]["type"] == "service_unavailable"
        ready = httpx.get(f"{url}/health/ready")
        assert ready.status_code == 503
        assert httpx.get(f"{url}/health").status_code == 200  # alive, just not ready

        redis_server.start()  # same port and data dir: the AOF is replayed
        wait_until(
            lambda: httpx.get(f"{url}/v1/jobs/{job_id}", headers=headers).status_code == 200,
            20,
            "api after redis restart",
        )
        assert httpx.get(f"{url}/v1/jobs/{job_id}", headers=headers).json()["status"] == "queued"
        client = redis.Redis.from_url(redis_server.url)
        assert client.llen("llm.openai:4") == 1  # and its message, for a worker to pick up
        client.close()

        # Pickup after the restart: the job runs to completion.
        emulator_port = free_port()
        env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{emulator_port}/v1"
        env["OPENAI_API_KEY"] = "sk-outage-test"
        emulator = Process(
            "emulator",
            [sys.executable, "-m", "cli", "emulator", "--port", str(emulator_port)],
            env,
            tmp_path / "emulator.log",
        ).start()
        worker = Process(
            "worker",
            [sys.executable, "-m", "cli", "worker", "--queues", "llm.openai", "--concurrency", "2"],
            env,
            tmp_path / "worker.log",
        ).start()
        children += [emulator, worker]
        wait_until(
            lambda: (
                httpx.get(f"{url}/v1/jobs/{job_id}", headers=headers).json()["status"]
                == "succeeded"
            ),
            60,
            "the job after the restart",
        )
        assert "Traceback" not in api.output()
    finally:
        for child in children:
            child.stop()
        api.stop()
        redis_server.stop()
