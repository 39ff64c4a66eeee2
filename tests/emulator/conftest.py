"""Fixtures: one real emulator HTTP server per session, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from emulator import EmulatorControl, running_server


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>``) of an emulator running in a thread."""
    with running_server() as url:
        yield url


@pytest.fixture
def control(emulator_url: str) -> Iterator[EmulatorControl]:
    """Control API client; state is reset around each test so tests stay independent."""
    client = EmulatorControl(emulator_url)
    client.reset()
    yield client
    client.reset()


@pytest.fixture
def oai(emulator_url: str, control: EmulatorControl) -> Iterator[openai.OpenAI]:
    """Official OpenAI SDK pointed at the emulator."""
    with openai.OpenAI(base_url=emulator_url + "/v1", api_key="x", max_retries=0) as client:
        yield client


@pytest.fixture
def claude(emulator_url: str, control: EmulatorControl) -> Iterator[anthropic.Anthropic]:
    """Official Anthropic SDK pointed at the emulator."""
    with anthropic.Anthropic(base_url=emulator_url, api_key="x", max_retries=0) as client:
        yield client
