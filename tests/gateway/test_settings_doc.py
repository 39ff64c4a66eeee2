"""docs/configuration.md is generated from the settings class and stays in step with it."""

from __future__ import annotations

import subprocess
import sys

from gateway.settings import Settings
from gateway.settings_doc import PAGE, REGENERATE, render
from tests.support.processes import ROOT


def test_committed_page_matches_the_settings_class() -> None:
    committed = PAGE.read_text(encoding="utf-8")
    assert committed == render(), (
        f"docs/configuration.md is stale: run `.venv/bin/{REGENERATE}` and commit the result"
    )


def test_every_setting_has_a_row_with_its_description() -> None:
    page = render()
    for name, info in Settings.model_fields.items():
        assert f"`LLM_GATEWAY_{name.upper()}`" in page
        assert info.description, f"{name}: add description= to the Field"


def test_defaults_are_shown_as_the_checkout_sees_them() -> None:
    page = render()
    assert "| `config/providers.yaml` |" in page
    assert str(ROOT) not in page


def test_the_module_prints_the_page() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "gateway.settings_doc"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == render()
