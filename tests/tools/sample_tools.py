"""Python tools for the tests, loaded through ``python: "tests.tools.sample_tools:<name>"``."""

from __future__ import annotations

import time


def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


def explode(secret: str = "") -> None:
    """Fail with an exception whose text must not reach the model."""
    raise RuntimeError(f"boom: connection string postgres://admin:{secret}@db")


def sleep(seconds: float) -> str:
    """Sleep, then answer."""
    time.sleep(seconds)
    return "slept"


def not_json() -> object:
    """Return something JSON cannot carry."""
    return {1, 2, 3}


NOT_CALLABLE = 42
