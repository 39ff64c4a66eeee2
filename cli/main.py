"""``llm-gateway``: run the whole local stack, or one process of it."""

from __future__ import annotations

import inspect
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError

from cli.batches import batch_app
from cli.jobs import jobs_app
from cli.usage import usage

cli = typer.Typer(
    name="llm-gateway",
    help="Queue-based LLM gateway: API, workers, emulator, and the local stack.",
    no_args_is_help=True,
    add_completion=False,
)
cli.add_typer(jobs_app, name="jobs")
cli.add_typer(batch_app, name="batch")
cli.command(name="usage")(usage)

F = TypeVar("F", bound=Callable[..., None])


def _command(function: F) -> F:
    """Register a subcommand with its docstring as help, each paragraph on one line: rich
    help keeps the source's line breaks, which wrap badly at any terminal width."""
    paragraphs = inspect.cleandoc(function.__doc__ or "").split("\n\n")
    text = "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)
    return cli.command(help=text)(function)


@_command
def up(
    port: Annotated[int, typer.Option(help="API port")] = 8080,
    emulator_port: Annotated[int, typer.Option(help="provider emulator port")] = 8090,
    flower_port: Annotated[int, typer.Option(help="Flower port")] = 5555,
    downstream_port: Annotated[
        int, typer.Option(help="port of the semantic-search / ai-agents stand-in")
    ] = 8091,
    storage_port: Annotated[
        int, typer.Option(help="port of the local S3 store (moto) behind the route 'local'")
    ] = 8092,
    emulator_latency_ms: Annotated[int, typer.Option(help="emulated provider latency")] = 200,
    demo: Annotated[
        bool,
        typer.Option(
            help="run a job per provider, a tool loop, a tool job and an enhancement job once ready"
        ),
    ] = True,
    flower: Annotated[bool, typer.Option(help="start Flower")] = True,
    worker_concurrency: Annotated[
        int | None, typer.Option(help="threads per worker (default LLM_GATEWAY_WORKER_CONCURRENCY)")
    ] = None,
    worker_processes: Annotated[
        int, typer.Option(min=1, help="worker processes per provider queue")
    ] = 1,
    exit_after_demo: Annotated[
        bool, typer.Option(help="stop after the demo; a failed demo job exits 1 (smoke test)")
    ] = False,
    state_dir: Annotated[str, typer.Option(help="where a started Redis keeps its AOF")] = (
        ".llm-gateway"
    ),
) -> None:
    """Run the whole local stack, then a demo job per provider.

    Starts Redis (if none answers), the provider emulator (it stands in for every provider
    whose credentials are not set), the tools' stand-in, a local S3 store (moto, bucket
    rag-docs on the storage route 'local', unless LLM_GATEWAY_LOCAL_S3_URL points at
    yours), the API, one worker per queue and Flower; prints which provider instances are
    real and which emulated; then runs a job through each provider instance, a tool loop, a
    tool job, an enhancement job and the storage flow (upload, presign, ask).

    A process that exits is restarted with a backoff while the rest keeps serving, and none
    outlives ``up`` (even a SIGKILLed one). Ctrl-C or SIGTERM stops everything."""
    from cli.stack import LocalStack, StackPorts

    stack = LocalStack(
        StackPorts(
            api=port,
            emulator=emulator_port,
            flower=flower_port,
            downstream=downstream_port,
            storage=storage_port,
        ),
        emulator_latency_ms=emulator_latency_ms,
        state_dir=state_dir,
        flower=flower,
        worker_concurrency=worker_concurrency,
        worker_processes=worker_processes,
    )
    raise typer.Exit(stack.run(demo=demo, exit_after_demo=exit_after_demo))


@_command
def api(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port (default LLM_GATEWAY_PORT)")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    uds: Annotated[
        str | None,
        typer.Option(help="serve on this Unix socket instead (the heavy lane's sibling)"),
    ] = None,
) -> None:
    """Serve the API (same as ``uvicorn api.main:app``)."""
    import uvicorn

    from gateway.settings import Settings
    from providers.config import load_providers
    from storage.config import load_storage

    settings = _checked(Settings)
    # Fail here with one clear line, not a stack trace from inside the server's start-up.
    _checked(settings.check_auth_configured)
    _checked(lambda: load_providers(settings.providers_file))
    _checked(lambda: load_storage(settings.storage_file))
    # The heavy lane's sibling (``api.lane_sibling``) is a second process with metrics.
    with _shared_metrics(processes=workers + (settings.heavy_lane_body_bytes > 0)):
        uvicorn.run(
            "api.main:app",
            host=host or settings.host,
            port=port or settings.port,
            uds=uds,
            # Only the API that started the sibling can reach its socket (a 0700
            # directory), and it sets the client's address in X-Forwarded-For.
            forwarded_allow_ips="*" if uds else None,
            workers=workers,
            log_config=None,
            access_log=False,
            lifespan="on",
        )


# ``api.metrics.MULTIPROC_DIR_VARIABLE``, not imported from there (see ``_shared_metrics``).
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def _shared_metrics(processes: int) -> Iterator[None]:
    """With several API processes, a fresh directory for their shared metrics (so a scrape
    of any one sums them all, ``api.metrics``), removed when they stop. A directory given
    in ``PROMETHEUS_MULTIPROC_DIR`` is used as is: its owner cleans it.

    Set before anything imports prometheus-client (``api.metrics`` does), which reads the
    variable once, at import: a process that imported it earlier keeps its values in memory
    where a scrape, reading the directory, does not see them."""
    if processes <= 1 or os.environ.get(MULTIPROC_DIR_VARIABLE):
        yield
        return
    directory = tempfile.mkdtemp(prefix="llm-gateway-metrics-")

    def remove_then_die(signum: int, frame: FrameType | None) -> None:
        # uvicorn stops gracefully on SIGTERM and then raises it again, to die of it: no
        # ``finally`` runs after that, so the directory goes here.
        shutil.rmtree(directory, ignore_errors=True)
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    previous = signal.signal(signal.SIGTERM, remove_then_die)
    os.environ[MULTIPROC_DIR_VARIABLE] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROC_DIR_VARIABLE]
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(directory, ignore_errors=True)


@_command
def worker(
    queues: Annotated[str, typer.Option(help="comma-separated queues, e.g. llm.openai")],
    concurrency: Annotated[int | None, typer.Option(help="calls in flight per process")] = None,
    name: Annotated[str | None, typer.Option(help="node name (default from queues)")] = None,
) -> None:
    """Run a Celery worker (same as ``celery -A workers worker -Q ...``).

    ``up`` and the test fixtures start workers through this command, so its flags are
    defined once."""
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


@_command
def emulator(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8090,
    latency_ms: Annotated[int, typer.Option(help="added latency per request")] = 0,
) -> None:
    """Serve the provider emulator, speaking all eight providers' wire protocols.

    OpenAI, Anthropic, Azure OpenAI, Bedrock, Vertex, Ollama, watsonx and OCI (one module
    each in emulator/protocols/)."""
    from emulator import serve

    serve(host=host, port=port, latency_ms=latency_ms)


@_command
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
