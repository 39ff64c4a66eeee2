"""``llm-gateway batch``: submit documents for enhancement as a batch, follow it, fetch its
results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.table import Table

from cli.batch_report import report_results, watch_batch
from cli.gateway_connection import (
    DEFAULT_URL,
    ApiKeyOption,
    OutputFormat,
    OutputOption,
    UrlOption,
    connected,
    fail,
    moment,
    print_record,
)
from client import Batch, Document, GatewayClient

batch_app = typer.Typer(
    help="Enhance documents in batches: submit, follow, fetch results, cancel.",
    no_args_is_help=True,
    add_completion=False,
)

BatchIdArgument = Annotated[str, typer.Argument(help="the batch's id (batch_...)")]
TimeoutOption = Annotated[
    float | None, typer.Option(min=0, help="stop waiting after this many seconds (default never)")
]
PollOption = Annotated[
    float, typer.Option("--poll-seconds", min=0.05, help="how often to read the batch's progress")
]

# Exit codes of ``submit --wait`` and ``wait``.
EXIT_ALL_GOOD = 0
EXIT_NOT_ALL_GOOD = 1
EXIT_STILL_RUNNING = 2


@batch_app.command("submit")
def submit_batch(
    files: Annotated[
        list[Path],
        typer.Argument(exists=True, dir_okay=False, help="the documents (Markdown files)"),
    ],
    model: Annotated[str, typer.Option(help="the model that enhances them")],
    review: Annotated[
        bool | None,
        typer.Option("--review/--no-review", help="have the model review each result"),
    ] = None,
    webhook: Annotated[str | None, typer.Option(help="URL to notify when the batch ends")] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(help="an enhancement option, key=value (value read as JSON if it parses)"),
    ] = None,
    wait: Annotated[bool, typer.Option(help="follow the batch until it ends")] = False,
    results: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="write the results (JSONL) here; implies --wait"),
    ] = None,
    timeout: TimeoutOption = None,
    poll_seconds: PollOption = 1.0,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Submit the files as one batch and print its id. With --wait: a progress bar, then a
    row per document. Exit code 0 when every document succeeded and passed validation."""
    documents = [_read_document(path) for path in files]
    options = _parse_options(option or [])
    if review is not None:
        options["review"] = review
    with connected(url, api_key) as client:
        batch = client.submit_batch(model, documents, options=options or None, webhook_url=webhook)
        typer.echo(batch.id)
        if wait or results is not None:
            raise typer.Exit(_follow(client, batch.id, timeout, poll_seconds, results))


@batch_app.command("get")
def get_batch(
    batch_id: BatchIdArgument,
    output: OutputOption = OutputFormat.JSON,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Print a batch."""
    with connected(url, api_key) as client:
        batch = client.get_batch(batch_id)
    if output is OutputFormat.JSON:
        print_record(batch)
    else:
        Console().print(_batch_table(batch))


@batch_app.command("wait")
def wait_batch(
    batch_id: BatchIdArgument,
    timeout: TimeoutOption = None,
    poll_seconds: PollOption = 1.0,
    results: Annotated[
        Path | None, typer.Option(dir_okay=False, help="write the results (JSONL) here")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Follow a batch until it ends, then show a row per document. Exit code 0: every
    document succeeded and passed validation; 1: not; 2: still running at the timeout."""
    with connected(url, api_key) as client:
        raise typer.Exit(_follow(client, batch_id, timeout, poll_seconds, results))


@batch_app.command("results")
def batch_results(
    batch_id: BatchIdArgument,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="file to write (default stdout)"),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Write a batch's results, one JSON line per document, as the gateway streams them."""
    with connected(url, api_key) as client:
        lines = client.batch_result_lines(batch_id)
        if output is None:
            for line in lines:
                typer.echo(line)
            return
        with _open_for_writing(output) as file:
            for line in lines:
                file.write(line + "\n")


@batch_app.command("cancel")
def cancel_batch(
    batch_id: BatchIdArgument, url: UrlOption = DEFAULT_URL, api_key: ApiKeyOption = None
) -> None:
    """Cancel a batch's unfinished documents and print the batch."""
    with connected(url, api_key) as client:
        batch = client.cancel_batch(batch_id)
    print_record(batch)


def _follow(
    client: GatewayClient,
    batch_id: str,
    timeout: float | None,
    poll_seconds: float,
    results: Path | None,
) -> int:
    """Progress until the batch ends, then the report; the exit code."""
    batch = watch_batch(client, batch_id, timeout, poll_seconds)
    if not batch.ended:
        counts = batch.request_counts
        typer.echo(
            f"batch {batch.id} is still {batch.status} ({counts.completed}/{counts.total} done)",
            err=True,
        )
        return EXIT_STILL_RUNNING
    lines = client.batch_result_lines(batch_id)
    if results is None:
        report = report_results(lines, None)
    else:
        with _open_for_writing(results) as file:
            report = report_results(lines, file)
    report.print(Console())
    good = report.all_good and batch.status == "completed"
    return EXIT_ALL_GOOD if good else EXIT_NOT_ALL_GOOD


def _read_document(path: Path) -> Document:
    try:
        return Document.from_path(path, custom_id=str(path))
    except UnicodeDecodeError:
        raise fail(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; a value that parses as JSON (``4``, ``false``, ``["a"]``) is
    that value, any other is the string."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--option")
        try:
            options[key.strip()] = json.loads(raw)
        except ValueError:
            options[key.strip()] = raw
    return options


def _open_for_writing(path: Path) -> TextIO:
    try:
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror}") from None


def _batch_table(batch: Batch) -> Table:
    counts = batch.request_counts
    table = Table("field", "value", show_header=False)
    table.add_row("id", batch.id)
    table.add_row("status", batch.status)
    table.add_row("model", f"{batch.model} ({batch.provider})")
    table.add_row("created", moment(batch.created_at))
    for name in ("total", "queued", "running", "succeeded", "failed", "cancelled"):
        table.add_row(name, str(getattr(counts, name)))
    table.add_row("validation failed", str(counts.validation_failed))
    return table
