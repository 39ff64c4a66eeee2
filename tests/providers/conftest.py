"""Fixtures for the provider adapter tests: one emulator HTTP server for the session, and
one adapter per vendor for the contract tests (a vendor's own test file overrides ``kit``
and ``provider`` with its own)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import EmulatorControl, running_server
from providers.base import Provider
from tests.support.vendors import VENDORS, VendorKit


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


@pytest.fixture(scope="module", params=list(VENDORS))
def kit(
    request: pytest.FixtureRequest,
    provider_emulator_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> VendorKit:
    """Each vendor's adapter kit in turn (``VENDORS``)."""
    vendor: str = request.param
    return VENDORS[vendor](provider_emulator_url, tmp_path_factory.mktemp(vendor))


@pytest.fixture
def isolated(kit: VendorKit, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> VendorKit:
    """The kit, with the machine's environment hidden from its SDK."""
    if kit.isolate:
        kit.isolate(monkeypatch, tmp_path)
    return kit


@pytest.fixture
def provider(isolated: VendorKit, emulator_control: EmulatorControl) -> Iterator[Provider]:
    adapter = isolated.build()
    yield adapter
    adapter.close()
