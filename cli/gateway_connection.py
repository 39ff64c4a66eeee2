"""What the commands that talk to a running gateway share: where it is, the key, one
client, and errors as one line on stderr with exit code 1 (never a traceback)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import typer
from pydantic import BaseModel

from client import GatewayClient, GatewayClientError, GatewayUnreachable

DEFAULT_URL = "http://127.0.0.1:8080"

UrlOption = Annotated[
    str, typer.Option("--url", envvar="LLM_GATEWAY_URL", help="the gateway's base URL")
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="LLM_GATEWAY_API_KEY", help="API key", show_default=False),
]


class OutputFormat(StrEnum):
    JSON = "json"
    TABLE = "table"


OutputOption = Annotated[
    OutputFormat, typer.Option("--output", help="the whole record as JSON, or a summary")
]


@contextmanager
def connected(url: str, api_key: str | None) -> Iterator[GatewayClient]:
    """A client for the block; a gateway error ends the command with exit code 1."""
    try:
        with GatewayClient(url, api_key) as client:
            yield client
    except GatewayUnreachable as exc:
        typer.echo(f"error: {exc.message} (is the gateway running? see --url)", err=True)
        raise typer.Exit(1) from None
    except GatewayClientError as exc:
        typer.echo(f"error: {exc.type}: {exc.message}", err=True)
        raise typer.Exit(1) from None


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; raise the returned exit (code 1)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def print_record(record: BaseModel) -> None:
    typer.echo(record.model_dump_json(indent=2))


def shown(value: object) -> str:
    """A table cell: ``-`` for nothing."""
    return "-" if value is None or value == "" else str(value)


def moment(value: datetime | None) -> str:
    """A timestamp cell, to the second (the gateway's times are UTC)."""
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"
