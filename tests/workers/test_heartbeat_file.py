"""The heartbeat file (LLM_GATEWAY_WORKER_HEARTBEAT_FILE): a real worker touches it every
heartbeat, and the Kubernetes probes the manifests ship (a stat() in a short python, no
Celery client) pass on a fresh file and fail on a stale or missing one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import Process, RedisServer, wait_until

MANIFEST = Path(__file__).resolve().parents[2] / "deploy/kubernetes/base/worker-webhooks.yaml"
MANIFEST_FILE = "/tmp/worker-heartbeat"


def probe(kind: str, beat_file: Path) -> int:
    """Run the manifest's ``kind`` probe against ``beat_file``; its exit status."""
    [deployment] = [d for d in yaml.safe_load_all(MANIFEST.read_text("utf-8")) if d]
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    command = [str(part) for part in container[kind]["exec"]["command"]]
    assert command[:2] == ["python", "-c"] and MANIFEST_FILE in command[2], command
    script = command[2].replace(MANIFEST_FILE, str(beat_file))
    return subprocess.run([sys.executable, "-c", script], timeout=30, check=False).returncode


def test_a_worker_touches_its_heartbeat_file_and_the_probes_read_its_age(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    beat_file = tmp_path / "worker-heartbeat"
    env = {
        **os.environ,
        "LLM_GATEWAY_REDIS_URL": redis_server.url,
        "LLM_GATEWAY_WORKER_HEARTBEAT_FILE": str(beat_file),
        "LLM_GATEWAY_WORKER_HEARTBEAT_SECONDS": "0.2",
    }
    argv = [sys.executable, "-m", "cli", "worker", "--queues", "llm.webhooks"]
    argv += ["--name", "heartbeat@%h", "--concurrency", "2"]
    worker = Process("heartbeat-worker", argv, env, tmp_path / "worker.log").start()
    try:
        wait_until(beat_file.exists, 60, "the first heartbeat")
        first = beat_file.stat().st_mtime
        wait_until(lambda: beat_file.stat().st_mtime > first, 30, "a later heartbeat")
        assert probe("readinessProbe", beat_file) == 0
        assert probe("livenessProbe", beat_file) == 0
    finally:
        worker.stop()
    assert not worker.alive()
    # A worker that stopped beating: stale after the probes' thresholds.
    long_ago = time.time() - 3600
    os.utime(beat_file, (long_ago, long_ago))
    assert probe("readinessProbe", beat_file) == 1
    assert probe("livenessProbe", beat_file) == 1
    beat_file.unlink()
    assert probe("livenessProbe", beat_file) == 1, "no file: not live"


def test_readiness_fails_before_liveness_as_the_file_ages(tmp_path: Path) -> None:
    # 60 s without a beat: out of the rollout (not ready) but not restarted yet.
    beat_file = tmp_path / "worker-heartbeat"
    beat_file.touch()
    a_minute_ago = time.time() - 60
    os.utime(beat_file, (a_minute_ago, a_minute_ago))
    assert probe("readinessProbe", beat_file) == 1
    assert probe("livenessProbe", beat_file) == 0
