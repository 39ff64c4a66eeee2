"""The batch bench's tables: the batch against its ideal, where the slots went, each
step's seconds, CPU per process."""

from __future__ import annotations

import math
from typing import Any

from report import console, cpu_table, table, verdict

# The bar for limit utilization under a backlog.
TARGET = 0.95


def _pct(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.1%}"


def summary_rows(res: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The main table: outcome, throughput against both ideals, what the provider saw."""
    opts, b, best = res["options"], res["batch"], res["ideal"]
    calls, slots, tools, out = res["calls"], res["slots"], res["tools"], res["outcomes"]
    statuses = out["statuses"]
    others = sum(n for s, n in statuses.items() if s not in ("succeeded", "failed"))
    rpm = f"{opts['rpm']} rpm" if opts["rpm"] else "no rpm"
    by_step = ", ".join(f"{k} {v}" for k, v in sorted(calls["by_step"].items()))
    return [
        ("documents", str(opts["documents"]), f"batch {b['status']}, 202 in {b['accept_s']:.2f} s"),
        (
            "succeeded / failed",
            f"{statuses.get('succeeded', 0)} / {statuses.get('failed', 0)}",
            f"validation_failed {out['validation_failed']}; other {others}",
        ),
        ("wall time, submit to end", f"{b['wall_s']:.1f} s", "to the batch's completed_at"),
        ("documents / min", f"{b['docs_per_min']:.1f}", ""),
        (
            "ideal docs / min, steady",
            f"{best['docs_per_min']:.1f}",
            f"min({opts['max_concurrency']} / {best['latency_s']:g} s, {rpm} / 60) = "
            f"{best['calls_per_s']:.2f} calls/s, {best['binding']} binds",
        ),
        ("achieved / steady ideal", f"{res['of_ideal']:.2f}", ""),
        (
            "ideal for this batch",
            f"{best['empty_window_docs_per_min']:.1f}",
            f"{best['empty_window_wall_s']:.1f} s from an empty rpm window",
        ),
        (
            "achieved / batch ideal",
            f"{res['of_empty_window_ideal']:.2f}",
            f"{verdict(res['of_empty_window_ideal'] >= TARGET)} (≥ {TARGET:.2f})",
        ),
        (
            "model calls",
            str(calls["calls"]),
            f"{best['calls_per_document']:.2f} per document; errors {calls['errors']}",
        ),
        ("  by step", "", by_step),
        ("calls / s, first to last", f"{calls['calls_per_s']:.2f}", f"{calls['span_s']:.1f} s"),
        (
            "at the provider: peak / mean",
            f"{calls['peak_in_flight']} / {calls['mean_in_flight']:.1f}",
            f"limit {opts['max_concurrency']}; call p50 {calls['served_s']['p50']:.3f} s",
        ),
        (
            "slots when not rpm-bound",
            _pct(slots["at_provider"]),
            f"at the provider; held elsewhere {_pct(slots['held_elsewhere'])}, free "
            f"{_pct(slots['free'])} ({slots['samples']} samples)",
        ),
        (
            "peak calls in 60 s",
            f"{calls['peak_per_minute']:.0f}",
            f"{rpm}; {verdict(not opts['rpm'] or calls['peak_per_minute'] <= opts['rpm'])}",
        ),
        (
            "tool calls at the stand-in",
            str(tools["calls"]),
            f"failed {tools['failed']}; p50 {1000 * tools['seconds']['p50']:.1f} ms",
        ),
        ("most jobs waiting", str(slots["max_waiting"]), "for capacity, sampled every 0.5 s"),
    ]


def report(res: dict[str, Any]) -> None:
    opts, workers = res["options"], res["workers"]
    title = (
        f"batch enhancement: {opts['documents']} documents, emulator {opts['latency_ms']} ms, "
        f"{workers['processes']} x {workers['threads_per_process']} worker threads"
    )
    table(title, ("measure", "value", "note"), summary_rows(res))
    steps = [
        (step, str(s["n"]), f"{s['p50']:.2f}", f"{s['p95']:.2f}", f"{s['mean']:.2f}")
        for step, s in res["outcomes"]["steps"].items()
        if s["n"]
    ]
    table("seconds per step (result.steps.*.seconds)", ("step", "n", "p50", "p95", "mean"), steps)
    problems = {
        "batch did not end in time": res["batch"]["timed_out"],
        "job errors": res["outcomes"]["errors"],
        "stack log warnings/errors": res["stack_log"],
    }
    for label, found in problems.items():
        if found:
            console.print(f"[bold red]{label}:[/] {found}")
    if res["cpu"]:
        cpu_table("batch run", res["cpu"])
