"""Output of the gateway bench: rich tables on stdout, JSON files in ``bench/results/``."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from measure import LoadResult
from rich.console import Console
from rich.table import Table
from stack import PROJECT_ROOT

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Piped output (CI logs, tee) would otherwise be cut to 80 columns and wrap every table.
console = Console(width=None if sys.stdout.isatty() else 120)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> None:
    """Print a table whose first ``left`` columns are labels and the rest numbers."""
    out = Table(title=title, min_width=len(title) + 4)  # keep the title on one line
    for i, column in enumerate(columns):
        out.add_column(column, justify="left" if i < left else "right")
    for row in rows:
        out.add_row(*row)
    console.print(out)


def verdict(met: bool) -> str:
    return "[green]met[/]" if met else "[bold red]NOT MET[/]"


def error_text(load: LoadResult) -> str:
    kinds = ", ".join(f"{kind}: {n}" for kind, n in load.errors.most_common())
    return f"{sum(load.errors.values())} ({kinds})" if load.errors else "0"


def cpu_usage(
    before: dict[str, float], after: dict[str, float], wall_s: float, requests: int
) -> dict[str, dict[str, float]]:
    """Per-process CPU over a phase: share of one core, and milliseconds per request."""
    usage = {}
    for role in sorted(after):
        cpu = after[role] - before.get(role, 0.0)
        usage[role] = {
            "cpu_s": cpu,
            "core_pct": 100 * cpu / wall_s,
            "ms_per_request": 1000 * cpu / max(requests, 1),
        }
    return usage


def cpu_table(title: str, usage: dict[str, dict[str, float]]) -> None:
    """Busiest process first: on a small machine that process, or the sum of all of them
    against the cores, is the ceiling."""
    ordered = sorted(usage.items(), key=lambda item: -item[1]["cpu_s"])
    rows = [(role, f"{u['core_pct']:.0f} %", f"{u['ms_per_request']:.2f}") for role, u in ordered]
    total_pct = sum(u["core_pct"] for u in usage.values())
    total_ms = sum(u["ms_per_request"] for u in usage.values())
    rows.append(("total", f"{total_pct:.0f} %", f"{total_ms:.2f}"))
    cores = os.cpu_count() or 1
    table(
        f"{title}: CPU per process ({cores} cores = {100 * cores} %)",
        ("process", "CPU", "ms/req"),
        rows,
    )


def save(name: str, result: dict[str, Any]) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"meta": run_meta(), **result}, indent=2) + "\n")
    console.print(f"[dim]wrote {path.relative_to(PROJECT_ROOT)}[/]")


def run_meta() -> dict[str, Any]:
    """Enough context to tell two result files apart: when, which commit, how busy."""
    # Other people edit the tree while benches run: record what differed from the commit.
    dirty = _git("status", "--porcelain", "--untracked-files=no").splitlines()
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": _git("rev-parse", "--short", "HEAD") or None,
        "modified": [line[3:] for line in dirty],
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "python": platform.python_version(),
    }


def _git(*args: str) -> str:
    run = subprocess.run(
        ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    # Not strip(): porcelain lines start with a status column that may be a space.
    return run.stdout.rstrip("\n")
