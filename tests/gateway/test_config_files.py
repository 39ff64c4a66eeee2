"""``${VAR}`` substitution in the YAML configuration files."""

from __future__ import annotations

import pytest

from gateway.config_files import ConfigFileError, interpolate_env


def test_env_interpolation_uses_value_then_default() -> None:
    text = "a: ${A}\nb: ${B:-fallback}\nc: ${C:-x}"
    assert interpolate_env(text, {"A": "1", "C": "3"}) == "a: 1\nb: fallback\nc: 3"


def test_unset_variable_without_default_names_the_file_and_the_variable() -> None:
    with pytest.raises(ConfigFileError, match=r"storage file references \$\{NOPE\}"):
        interpolate_env("a: ${NOPE}", {}, "storage file")
