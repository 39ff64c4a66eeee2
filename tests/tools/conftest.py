"""Fixtures: the downstream stand-in as a real process (stoppable, to take the services
down, and restartable on the same port), and clients and registries pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.downstream import DownstreamControl
from gateway.settings import Settings
from tests.support.processes import free_port
from tests.tools.stand_in import DownstreamServer
from tools.downstream import DownstreamClient
from tools.registry import ToolRegistry
from tools.toolbox import build_tool_registry


@pytest.fixture(scope="session")
def downstream_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DownstreamServer]:
    server = DownstreamServer(free_port(), tmp_path_factory.mktemp("downstream") / "out.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def downstream(downstream_server: DownstreamServer) -> Iterator[DownstreamControl]:
    """The stand-in's control API, running (restarted if a test stopped it) and reset."""
    if not downstream_server.running():
        downstream_server.start()
    control = DownstreamControl(downstream_server.url)
    control.reset()
    yield control
    if downstream_server.running():
        control.reset()


@pytest.fixture
def settings(downstream_server: DownstreamServer) -> Settings:
    return Settings(
        semantic_search_url=downstream_server.url,
        ai_agents_url=downstream_server.url,
        tool_timeout_seconds=5,
        tool_retry_backoff_seconds=0.01,
    )


@pytest.fixture
def http() -> Iterator[DownstreamClient]:
    """No circuit breaker, quick backoff."""
    client = DownstreamClient(timeout_seconds=5, max_attempts=3, backoff_seconds=0.01)
    yield client
    client.close()


@pytest.fixture
def registry(settings: Settings, http: DownstreamClient) -> ToolRegistry:
    """The shipped tools (config/tools.yaml), calling the stand-in."""
    return build_tool_registry(settings, http)
