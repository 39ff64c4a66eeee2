"""What ``llm-gateway batch`` shows: a live progress bar while a batch runs, then one row per
document and the totals."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.gateway_connection import shown
from client import Batch, BatchResult, GatewayClient, parse_batch_result


def watch_batch(
    client: GatewayClient, batch_id: str, timeout: float | None, poll_seconds: float
) -> Batch:
    """Wait for the batch with a progress bar on stderr; the last read of the batch."""
    # A first read outside the bar: an unknown batch fails before any bar is drawn, and
    # an ended one needs none.
    first = client.get_batch(batch_id)
    if first.ended:
        return first
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(batch_id, total=None)

        def show(batch: Batch) -> None:
            counts = batch.request_counts
            progress.update(
                task,
                total=counts.total,
                completed=counts.completed,
                description=(
                    f"{batch.id} [green]{counts.succeeded} succeeded[/] "
                    f"[red]{counts.failed} failed[/]"
                ),
            )

        return client.wait_batch(
            batch_id, timeout=timeout, poll_seconds=poll_seconds, on_progress=show
        )


@dataclass
class BatchReport:
    """The results table, built one result at a time (results are streamed, not kept)."""

    table: Table = field(
        default_factory=lambda: Table(
            "custom_id", "status", "validation", "citations", "tokens", "error"
        )
    )
    counts: dict[str, int] = field(default_factory=dict)
    validation_failed: int = 0
    tokens: int = 0
    all_good: bool = True

    def add(self, result: BatchResult) -> None:
        self.counts[result.status] = self.counts.get(result.status, 0) + 1
        tokens = (result.usage or {}).get("total_tokens")
        if isinstance(tokens, int):
            self.tokens += tokens
        validation = result.result.validation if result.result else None
        if validation is not None and not validation.passed:
            self.validation_failed += 1
        self.all_good = self.all_good and result.succeeded_and_valid
        self.table.add_row(
            result.custom_id,
            result.status,
            _validation_cell(result),
            shown(len(result.result.citations) if result.result else None),
            shown(tokens),
            shown((result.error or {}).get("type")),
        )

    def totals(self) -> str:
        documents = sum(self.counts.values())
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items()))
        return (
            f"{documents} documents: {statuses or 'none'}; "
            f"validation failed: {self.validation_failed}; tokens: {self.tokens}"
        )

    def print(self, console: Console) -> None:
        console.print(self.table)
        console.print(self.totals(), highlight=False)


def _validation_cell(result: BatchResult) -> str:
    validation = result.result.validation if result.result else None
    if validation is None:
        return "-"
    if validation.passed:
        return "✓"
    return "✗ " + ", ".join(validation.failed_checks or ["review"])


def report_results(lines: Iterable[str], copy_to: TextIO | None) -> BatchReport:
    """Read the results' lines once: copy each to ``copy_to`` as received and add it to the
    report."""
    report = BatchReport()
    for line in lines:
        if copy_to is not None:
            copy_to.write(line + "\n")
        report.add(parse_batch_result(line))
    return report
