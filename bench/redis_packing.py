"""The caller's CPU per Redis command, by how the command is packed: redis-py's own
hiredis serializer (an encoder pass in Python per argument, then hiredis) against the
gateway's (``gateway/redis_packing.py``: hiredis alone). An EVALSHA shaped like the
gateway's scripts (5 keys, 28 arguments) and a one-field HGET, alternating rounds against
one redis-server; CPU is this process's own (``time.process_time``). Prints a table.

    python bench/redis_packing.py                     # starts a private redis-server
    python bench/redis_packing.py --redis-url redis://127.0.0.1:6379/15
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Annotated

import redis
import typer
from measure import cpu_per_call
from report import table

from gateway.redis_packing import hiredis_packing

app = typer.Typer(add_completion=False, help=__doc__)

KEYS = [f"bench:key:{i}" for i in range(5)]
ARGS: list[str | int | float] = [f"value-{i}" for i in range(25)] + [1, 2.5, 1_700_000_000_000]


@contextlib.contextmanager
def redis_url(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    server = shutil.which("redis-server")
    if server is None:
        raise typer.BadParameter("redis-server is not installed; pass --redis-url")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as data:
        argv = [server, "--port", str(port), "--save", "", "--dir", data]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        try:
            client = redis.Redis(port=port)
            for _ in range(100):
                with contextlib.suppress(redis.ConnectionError):
                    client.ping()
                    break
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait()


@app.command()
def main(
    redis_url_: Annotated[str | None, typer.Option("--redis-url", help="a Redis to use")] = None,
    calls: Annotated[int, typer.Option(help="calls per round")] = 3000,
    rounds: Annotated[int, typer.Option(help="rounds per path")] = 7,
) -> None:
    with redis_url(redis_url_) as url:
        paths: dict[str, Callable[[], object]] = {}
        for label, packed in (("redis-py", False), ("hiredis alone (now)", True)):
            client = redis.Redis.from_url(url)
            if packed:
                pool = client.connection_pool
                pool.connection_class = hiredis_packing(pool.connection_class)
            script = client.register_script("return #ARGV")
            paths[f"EVALSHA, 5 keys + 28 args: {label}"] = (
                lambda s=script: s(keys=KEYS, args=ARGS)  # type: ignore[misc]
            )
            paths[f"HGET: {label}"] = lambda c=client: c.hget("bench:hash", "field")
        per_call = cpu_per_call(paths, calls, rounds, warmup=500)
    rows = [
        (name, *(f"{f(v) * 1e6:.1f}" for f in (statistics.median, min, max)))
        for name, v in per_call.items()
    ]
    title = f"caller CPU per Redis command (µs), {rounds} rounds of {calls} calls"
    table(title, ("command: packed by", "median", "min", "max"), rows, left=1)


if __name__ == "__main__":
    app()
