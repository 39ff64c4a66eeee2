"""``llm-gateway``: run the whole local stack, or one process of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError

from cli.batches import batch_app
from cli.jobs import jobs_app

cli = typer.Typer(
    name="llm-gateway",
    help="Queue-based LLM gateway: API, workers, emulator, and the local stack.",
    no_args_is_help=True,
    add_completion=False,
)
cli.add_typer(jobs_app, name="jobs")
cli.add_typer(batch_app, name="batch")


@cli.command()
def up(
    port: Annotated[int, typer.Option(help="API port")] = 8080,
    emulator_port: Annotated[int, typer.Option(help="provider emulator port")] = 8090,
    flower_port: Annotated[int, typer.Option(help="Flower port")] = 5555,
    downstream_port: Annotated[
        int, typer.Option(help="port of the semantic-search / ai-agents stand-in")
    ] = 8091,
    emulator_latency_ms: Annotated[int, typer.Option(help="emulated provider latency")] = 200,
    demo: Annotated[
        bool, typer.Option(help="run a job per provider, a tool loop and a tool job once ready")
    ] = True,
    flower: Annotated[bool, typer.Option(help="start Flower")] = True,
    worker_concurrency: Annotated[
        int | None, typer.Option(help="threads per worker (default LLM_GATEWAY_WORKER_CONCURRENCY)")
    ] = None,
    worker_processes: Annotated[
        int, typer.Option(min=1, help="worker processes per provider queue")
    ] = 1,
    exit_after_demo: Annotated[
        bool, typer.Option(help="stop the stack after the demo (smoke test)")
    ] = False,
    state_dir: Annotated[str, typer.Option(help="where a started Redis keeps its AOF")] = (
        ".llm-gateway"
    ),
) -> None:
    """Start Redis (if none answers), the emulator, the API, one worker per provider queue
    and Flower; run a demo job through each provider; Ctrl-C stops everything."""
    from cli.stack import LocalStack, StackPorts

    stack = LocalStack(
        StackPorts(
            api=port, emulator=emulator_port, flower=flower_port, downstream=downstream_port
        ),
        emulator_latency_ms=emulator_latency_ms,
        state_dir=state_dir,
        flower=flower,
        worker_concurrency=worker_concurrency,
        worker_processes=worker_processes,
    )
    raise typer.Exit(stack.run(demo=demo, exit_after_demo=exit_after_demo))


@cli.command()
def api(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port (default LLM_GATEWAY_PORT)")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the API (same as ``uvicorn api.main:app``)."""
    import uvicorn

    from gateway.settings import Settings
    from providers.config import load_providers

    settings = _checked(Settings)
    # Fail here with one clear line, not a stack trace from inside the server's start-up.
    _checked(settings.check_auth_configured)
    _checked(lambda: load_providers(settings.providers_file))
    uvicorn.run(
        "api.main:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        lifespan="on",
    )


@cli.command()
def worker(
    queues: Annotated[str, typer.Option(help="comma-separated queues, e.g. llm.openai")],
    concurrency: Annotated[int | None, typer.Option(help="calls in flight per process")] = None,
    name: Annotated[str | None, typer.Option(help="node name (default from queues)")] = None,
) -> None:
    """Run a Celery worker (same as ``celery -A workers worker -Q ...``); ``up`` and the test
    fixtures start workers through this command, so its flags are defined once."""
    from gateway.settings import Settings
    from workers import app

    settings = Settings()
    node = name or f"{queues.split(',')[0].removeprefix('llm.')}@%h"
    app.worker_main(
        [
            "worker",
            "-Q",
            queues,
            "-n",
            node,
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency or settings.worker_concurrency),
            "--loglevel",
            settings.log_level,
            "--without-mingle",
            "--without-gossip",
        ]
    )


@cli.command()
def emulator(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8090,
    latency_ms: Annotated[int, typer.Option(help="added latency per request")] = 0,
) -> None:
    """Serve the provider emulator (OpenAI and Anthropic wire protocols)."""
    from emulator import serve

    serve(host=host, port=port, latency_ms=latency_ms)


@cli.command()
def downstream(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8081,
) -> None:
    """Serve the stand-in for the tools' downstream services (semantic-search, ai-agents)."""
    from emulator.downstream import serve_downstream

    serve_downstream(host=host, port=port)


T = TypeVar("T")


def _checked(build: Callable[[], T]) -> T:
    """Run a start-up check; a configuration error exits 2 with one line on stderr."""
    try:
        return build()
    except (ValueError, ValidationError) as exc:
        typer.echo(f"llm-gateway: configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


def main() -> None:
    cli()
