"""``ToolBox``: a worker's tools built from the settings, end to end through the executor,
the HTTP client and the Redis-shared circuit breaker."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from emulator.downstream import DownstreamControl
from gateway.settings import Settings
from tools.circuit import CircuitState
from tools.toolbox import ToolBox


def test_built_toolbox_runs_the_shipped_tools(
    settings: Settings, isolated_redis: redis.Redis, downstream: DownstreamControl
) -> None:
    box = ToolBox.build(settings, isolated_redis)
    try:
        outcome = box.executor.run("get_chunk", {"chunk_id": "chunk-001"})
        assert outcome.ok
        assert outcome.output["collection"] == "docs"
        assert box.registry.names() == sorted(box.registry.names())
        assert len(box.registry.names()) == 5
    finally:
        box.close()


def test_settings_set_the_retries_and_the_circuit(
    settings: Settings, isolated_redis: redis.Redis, downstream: DownstreamControl
) -> None:
    tuned = settings.model_copy(
        update={"tool_max_attempts": 2, "tool_circuit_failure_threshold": 2}
    )
    box = ToolBox.build(tuned, isolated_redis)
    try:
        downstream.behave("/v1/agents/", status=500)
        calls: list[tuple[str, object]] = [("review_code", {"code": "x"})] * 2
        for outcome in [*box.executor.run_many(calls[:1]), *box.executor.run_many(calls[1:])]:
            assert outcome.error is not None
            assert outcome.error["type"] == "tool_unavailable"
        assert len(downstream.requests()) == 4
        assert box.circuit.state("ai_agents").state is CircuitState.OPEN
        refused = box.executor.run("generate_documentation", {"code": "x"})
        assert refused.error is not None
        assert "circuit is open" in refused.error["message"]
        assert 29 < refused.error["retry_after"] <= 30
        # The other service is unaffected.
        assert box.executor.run("search_corpus", {"query": "redis"}).ok
        assert len(downstream.requests()) == 5
    finally:
        box.close()


def test_a_bad_tools_file_fails_the_build(
    settings: Settings, isolated_redis: redis.Redis, tmp_path: Path
) -> None:
    bad = tmp_path / "tools.yaml"
    bad.write_text("tools: [{name: x}]\n")
    with pytest.raises(ValueError, match="tool 'x': needs a description"):
        ToolBox.build(settings.model_copy(update={"tools_file": bad}), isolated_redis)
