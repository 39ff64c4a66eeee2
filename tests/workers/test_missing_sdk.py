"""A worker installed without a provider type's SDK (the package extras: ``llm-gateway[oci]``)
disables that type's instances with one log line naming the extra, as it does an instance
without credentials, and serves the rest: no crash."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import redis

from gateway import keys
from tests.support.processes import Process, RedisServer, wait_until

# A real worker process (`llm-gateway worker`) in which `import oci` fails as it does where
# the SDK was never installed: a finder ahead of the real ones refuses the package.
WITHOUT_OCI = """
import importlib.abc, runpy, sys

class WithoutOci(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "oci" or name.startswith("oci."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, WithoutOci())
sys.argv = ["llm-gateway", *sys.argv[1:]]
runpy.run_module("cli", run_name="__main__")
"""


def test_a_worker_without_a_provider_sdk_disables_its_instances_naming_the_extra(
    redis_server: RedisServer, isolated_redis: redis.Redis, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        # Database 1: the session's workers (which have every SDK) publish in database 0.
        "LLM_GATEWAY_REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/1",
        "LLM_GATEWAY_LOG_JSON": "true",
        "LLM_GATEWAY_LOG_LEVEL": "INFO",
        "LLM_GATEWAY_WORKER_HEARTBEAT_SECONDS": "1",
        "OPENAI_API_KEY": "sk-test-missing-sdk",
    }
    argv = [sys.executable, "-c", WITHOUT_OCI, "worker", "--queues", "llm.oci,llm.openai"]
    argv += ["--name", "no-oci@%h", "--concurrency", "2"]
    worker = Process("no-oci", argv, env, tmp_path / "worker.log").start()
    try:
        wait_until(lambda: '"worker_started"' in worker.output(), 60, "worker start")
        lines = [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]
        disabled = [line for line in lines if line["event"] == "provider_instance_disabled"]
        assert [line["instance"] for line in disabled] == ["oci"]
        reason = disabled[0]["reason"]
        assert "pip install 'llm-gateway[oci]'" in reason and "oci" in reason, reason
        started = next(line for line in lines if line["event"] == "worker_started")
        assert (started["queues"], started["disabled"]) == (["llm.openai"], ["llm.oci"])
        # The API's view (routing, /v1/providers) hears of it as of missing credentials.
        published = isolated_redis.hget(keys.DISABLED_INSTANCES, "oci")
        assert published is not None and b"llm-gateway[oci]" in published
        assert isolated_redis.hget(keys.DISABLED_INSTANCES, "openai") is None
        assert worker.alive()
        assert "Traceback" not in worker.output()
    finally:
        worker.stop()
