"""Fixtures for the provider adapter tests: one emulator HTTP server for the session."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from emulator import EmulatorControl, running_server


@pytest.fixture(scope="session")
def provider_emulator_url() -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>``) of an emulator served by uvicorn in a thread."""
    with running_server() as url:
        yield url


@pytest.fixture
def emulator_control(provider_emulator_url: str) -> Iterator[EmulatorControl]:
    """The emulator's control API, reset around each test so tests stay independent."""
    control = EmulatorControl(provider_emulator_url)
    control.reset()
    yield control
    control.reset()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on a port nothing listens on: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
