"""``llm-gateway usage``: the caller's paid requests, tokens and cost from a running
gateway, grouped by day, model or provider instance, with its limits and budgets."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.gateway_connection import (
    DEFAULT_URL,
    ApiKeyOption,
    OutputFormat,
    UrlOption,
    connected,
    print_record,
)
from client.usage import UsageBudget, UsageReport, UsageTotals


class GroupBy(StrEnum):
    DAY = "day"
    MODEL = "model"
    PROVIDER = "provider"


DayOption = Annotated[str | None, typer.Option(help="a UTC day, YYYY-MM-DD (included)")]


def usage(
    start: DayOption = None,
    end: DayOption = None,
    group_by: Annotated[GroupBy, typer.Option(help="one row per day, model or provider")] = (
        GroupBy.DAY
    ),
    output: Annotated[
        OutputFormat, typer.Option("--output", help="a table, or the report as JSON")
    ] = OutputFormat.TABLE,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Print the caller's usage (GET /v1/usage): requests, tokens and cost per group and in
    total, then the tenant's limits and what is left of its budgets."""
    with connected(url, api_key) as client:
        report = client.usage(start, end, group_by.value)
    if output is OutputFormat.JSON:
        print_record(report)
        return
    show_report(report, Console())


def show_report(report: UsageReport, console: Console) -> None:
    table = Table(
        report.group_by,
        "requests",
        "input tokens",
        "output tokens",
        "cost (USD)",
        title=f"usage {report.start} to {report.end}",
    )
    for group in report.data:
        table.add_row(group.key, *_cells(group))
    table.add_row("total", *_cells(report.totals), style="bold")
    console.print(table)
    limits = report.limits
    rates = [
        f"{name} {value}"
        for name, value in (("rpm", limits.rpm), ("tpm", limits.tpm))
        if value is not None
    ]
    console.print("rate limits: " + (", ".join(rates) or "none"))
    for name, budget in (("daily", limits.daily_budget), ("monthly", limits.monthly_budget)):
        if budget is not None:
            console.print(_budget_line(name, budget))


def _cells(totals: UsageTotals) -> tuple[str, str, str, str]:
    return (
        str(totals.requests),
        str(totals.input_tokens),
        str(totals.output_tokens),
        f"{totals.cost_usd:.6f}",
    )


def _budget_line(name: str, budget: UsageBudget) -> str:
    return (
        f"{name} budget {budget.period}: ${budget.spent_usd:.4f} of ${budget.limit_usd:.2f} "
        f"spent, ${budget.remaining_usd:.4f} left"
    )
