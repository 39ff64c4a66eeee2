"""The API's live view of provider instances: headroom from the capacity keys, disabled
instances from workers, and models discovered from servers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from gateway import keys
from gateway.errors import UnknownModel
from limits.capacity import Admission, Outcome, ProviderCapacity
from providers.config import InstanceConfig, ProvidersConfig
from providers.instance_monitor import InstanceMonitor, disabled_instances
from providers.router import ModelRouter

T = TypeVar("T")
CONFIG = ProvidersConfig.model_validate(
    {
        "instances": {
            "busy": {"type": "openai", "models": ["m"], "limits": {"max_concurrency": 1}},
            "spare": {"type": "openai", "models": ["m"], "priority": 1},
            "local": {"type": "ollama", "discover_models": True, "discovery_seconds": 60},
        }
    }
)


def run(
    redis_db1: redis.Redis, scenario: Callable[[InstanceMonitor], Awaitable[T]], **kw: object
) -> T:
    url = "redis://{host}:{port}/1".format(**redis_db1.connection_pool.connection_kwargs)

    async def main() -> T:
        client = AsyncRedis.from_url(url)
        monitor = InstanceMonitor(client, CONFIG, ModelRouter(CONFIG), **kw)  # type: ignore[arg-type]
        try:
            return await scenario(monitor)
        finally:
            await client.aclose()

    return asyncio.run(main())


async def states(monitor: InstanceMonitor) -> InstanceMonitor:
    await monitor.refresh()
    return monitor


def test_an_instance_at_its_concurrency_limit_has_no_headroom(isolated_redis: redis.Redis) -> None:
    capacity = ProviderCapacity(isolated_redis, lease_seconds=30)
    busy = CONFIG.instances["busy"]
    admission = capacity.acquire(busy, "job_1", 0, 10)
    assert isinstance(admission, Admission)
    monitor = run(isolated_redis, states)
    assert not monitor.states["busy"].headroom and monitor.states["spare"].headroom
    assert ModelRouter(CONFIG).route("m", states=monitor.states).instance.name == "spare"
    capacity.release(busy, admission, Outcome.OK, tokens_used=10)
    assert run(isolated_redis, states).states["busy"].headroom


def test_a_cooldown_after_a_429_takes_the_headroom_away(isolated_redis: redis.Redis) -> None:
    capacity = ProviderCapacity(isolated_redis, lease_seconds=30)
    spare = CONFIG.instances["spare"]
    admission = capacity.acquire(spare, "job_2", 0, 10)
    assert isinstance(admission, Admission)
    capacity.release(spare, admission, Outcome.RATE_LIMITED, cooldown_seconds=30)
    assert not run(isolated_redis, states).states["spare"].headroom


def test_instances_workers_disabled_are_marked_with_their_reason(
    isolated_redis: redis.Redis,
) -> None:
    isolated_redis.hset(keys.DISABLED_INSTANCES, "busy", "no credentials (api_key) found")
    monitor = run(isolated_redis, states)
    assert monitor.states["busy"].disabled and not monitor.states["spare"].disabled
    assert monitor.disabled == {"busy": "no credentials (api_key) found"}


def test_discovered_models_route_and_are_asked_for_once_per_interval(
    isolated_redis: redis.Redis,
) -> None:
    asked: list[str] = []
    answers = [["llama3.2", "qwen2.5:7b"], ["never asked"]]

    async def list_models(inst: InstanceConfig) -> list[str]:
        asked.append(inst.name)
        return answers[len(asked) - 1]

    async def scenario(monitor: InstanceMonitor) -> ModelRouter:
        await monitor.refresh()
        await monitor.refresh()  # within discovery_seconds: not asked again
        return monitor._router

    router = run(isolated_redis, scenario, list_models=list_models)
    assert asked == ["local"]
    assert router.route("qwen2.5:7b").instance.name == "local"


def test_a_failed_discovery_keeps_the_models_last_reported(isolated_redis: redis.Redis) -> None:
    calls = 0

    async def list_models(inst: InstanceConfig) -> list[str]:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise ConnectionError("ollama is down")
        return ["qwen2.5:7b"]

    async def scenario(monitor: InstanceMonitor) -> ModelRouter:
        await monitor.refresh()
        monitor._next_discovery.clear()  # due again now
        await monitor.refresh()
        return monitor._router

    router = run(isolated_redis, scenario, list_models=list_models)
    assert calls == 2
    assert router.route("qwen2.5:7b").instance.name == "local"
    with pytest.raises(UnknownModel, match="mistral"):
        router.route("mistral")


def test_an_instance_a_live_worker_serves_is_not_disabled_by_another_workers_report() -> None:
    reported = {b"busy": b"no credentials", b"spare": b"no credentials"}
    members = [keys.worker_member("w1@host", ["llm.spare"])]
    assert disabled_instances(reported, members, CONFIG.instances.values()) == {
        "busy": "no credentials"
    }
