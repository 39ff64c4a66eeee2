"""``llm-gateway jobs``: read, wait for, list and cancel jobs of a running gateway."""

from __future__ import annotations

from enum import StrEnum
from itertools import islice
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from cli.gateway_connection import (
    DEFAULT_URL,
    ApiKeyOption,
    OutputFormat,
    OutputOption,
    UrlOption,
    connected,
    moment,
    print_record,
    shown,
)
from client import Job

jobs_app = typer.Typer(
    help="Read, wait for, list and cancel jobs.", no_args_is_help=True, add_completion=False
)

JobIdArgument = Annotated[str, typer.Argument(help="the job's id (job_...)")]

# ``jobs wait``'s exit codes.
EXIT_SUCCEEDED = 0
EXIT_NOT_SUCCEEDED = 1
EXIT_STILL_RUNNING = 2


@jobs_app.command("get")
def get_job(
    job_id: JobIdArgument,
    output: OutputOption = OutputFormat.JSON,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Print a job."""
    with connected(url, api_key) as client:
        job = client.get(job_id)
    show_job(job, output)


@jobs_app.command("wait")
def wait_job(
    job_id: JobIdArgument,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="give up after this many seconds (default never)")
    ] = None,
    output: OutputOption = OutputFormat.JSON,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Wait for a job to end and print it. Exit code 0: succeeded; 1: failed or cancelled;
    2: still queued or running when the timeout passed."""
    with connected(url, api_key) as client:
        job = client.wait(job_id, timeout=timeout)
    show_job(job, output)
    if not job.terminal:
        raise typer.Exit(EXIT_STILL_RUNNING)
    raise typer.Exit(EXIT_SUCCEEDED if job.status == "succeeded" else EXIT_NOT_SUCCEEDED)


class Expand(StrEnum):
    REQUEST = "request"
    RESULT = "result"


@jobs_app.command("list")
def list_jobs(
    status: Annotated[
        str | None, typer.Option(help="only jobs in this status, e.g. running")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="how many jobs")] = 20,
    output: Annotated[
        OutputFormat, typer.Option("--output", help="a table, or the summaries as JSON lines")
    ] = OutputFormat.TABLE,
    expand: Annotated[
        list[Expand] | None,
        typer.Option(help="with --output json: add each job's request or result (repeatable)"),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """List the newest jobs: their summaries, not their requests and results (``jobs get``
    shows a whole job)."""
    table = Table("type", "status", "model", "provider", "attempts", "created", "error")
    # Ids are what the user copies: wrapped on a narrow terminal, never cut short.
    table.columns.insert(0, Column("id", overflow="fold"))
    wanted = [e.value for e in expand or ()] if output is OutputFormat.JSON else []
    with connected(url, api_key) as client:
        for job in islice(client.jobs(status=status, limit=limit, expand=wanted), limit):
            if output is OutputFormat.JSON:
                typer.echo(job.model_dump_json(exclude_unset=True))
                continue
            table.add_row(
                job.id,
                job.type,
                job.status,
                shown(job.model),
                shown(job.provider),
                str(job.attempts),
                moment(job.created_at),
                shown((job.error or {}).get("type")),
            )
    if output is OutputFormat.TABLE:
        Console().print(table)


@jobs_app.command("cancel")
def cancel_job(
    job_id: JobIdArgument, url: UrlOption = DEFAULT_URL, api_key: ApiKeyOption = None
) -> None:
    """Cancel a queued or running job and print it."""
    with connected(url, api_key) as client:
        job = client.cancel(job_id)
    print_record(job)


def show_job(job: Job, output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        print_record(job)
        return
    table = Table("field", "value", show_header=False)
    for name, value in job_summary(job):
        table.add_row(name, value)
    Console().print(table)


def job_summary(job: Job) -> list[tuple[str, str]]:
    """The lines of ``--output table``."""
    usage = job.usage or {}
    error = job.error or {}
    rows = [
        ("id", job.id),
        ("type", job.type),
        ("status", job.status),
        ("model", shown(job.model)),
        ("provider", shown(job.provider)),
        ("attempts", str(job.attempts)),
        ("created", moment(job.created_at)),
        ("finished", moment(job.finished_at)),
        ("tokens", shown(usage.get("total_tokens"))),
        ("cost_usd", shown(job.cost_usd)),
    ]
    if job.pipeline is not None:
        rows.append(("step", shown(job.pipeline.step)))
    if job.batch_id is not None:
        rows.append(("batch", f"{job.batch_id} ({shown(job.custom_id)})"))
    if job.cache is not None:
        rows.append(("cache", _cache_line(job.cache)))
    if error:
        rows.append(("error", f"{error.get('type')}: {error.get('message')}"))
    return rows


def _cache_line(cache: dict[str, Any]) -> str:
    """The response cache's part: answered from it, or the answer stored for later hits."""
    if cache.get("hit"):
        return f"hit (cached {shown(cache.get('age_seconds'))} s ago, never queued)"
    return f"miss (answer cached for {shown(cache.get('ttl_seconds'))} s)"
