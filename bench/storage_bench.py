"""Storage benchmark: upload and download throughput through the gateway's storage API
against the same store reached straight with boto3, and the API's memory meanwhile.

    python bench/storage_bench.py                 # 200 MiB object, 3 runs each way
    python bench/storage_bench.py --size-mb 50 --runs 5

The bench starts its own redis-server, moto's S3 server and one API process (no workers:
storage needs none) on free loopback ports, with a storage file whose one route points at
moto, and stops them afterwards. Each run uploads the object, then downloads it, once
straight with boto3 (``upload_fileobj`` with its default transfer settings; one streamed
``get_object``) and once through ``PUT``/``GET /-s3/bench/...`` (urllib3, the HTTP client
boto3 itself uses, streamed from and to memory blocks), alternating so both see the same
machine. The API's peak RSS growth over a run (``VmHWM`` after resetting it through
``/proc/<pid>/clear_refs``) shows whether the body was streamed or held. Prints a table,
writes ``bench/results/storage.json``.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import boto3
import httpx
import typer
import urllib3
import yaml
from botocore.config import Config
from report import save, table
from stack import PROJECT_ROOT, free_ports, interruptible

app = typer.Typer(add_completion=False, help=__doc__)

BUCKET = "bench-docs"
API_KEY = "bench-storage-key"
BLOCK = 1024 * 1024
KEYS = {"access_key_id": "BENCH_S3_KEY_ID", "secret_access_key": "BENCH_S3_SECRET"}


def _wait(url: str, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up at {url}")


@contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _s3(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )


def _rss(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak(pid: int) -> int:
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _rss(pid, "VmRSS")


class _Blocks(io.RawIOBase):
    """``size`` bytes of one random block repeated, read like a file (for boto3)."""

    def __init__(self, block: bytes, size: int) -> None:
        self.block, self.left = block, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left, len(self.block))
        buffer[:n] = self.block[:n]
        self.left -= n
        return n


@app.command()
def run(
    size_mb: Annotated[int, typer.Option(help="object size in MiB")] = 200,
    runs: Annotated[int, typer.Option(help="runs each way")] = 3,
) -> None:
    size = size_mb * BLOCK
    block = os.urandom(BLOCK)
    redis_port, moto_port, api_port = free_ports(3)
    moto_url, api_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{api_port}"
    bin_dir = Path(sys.executable).parent
    with interruptible(), tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        state = Path(tmp)
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise typer.Exit("redis-server is not installed")
        stack.enter_context(
            _process(
                [redis_server, "--port", str(redis_port), "--save", "", "--dir", tmp],
                dict(os.environ),
                state / "redis.log",
            )
        )
        stack.enter_context(
            _process(
                [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                dict(os.environ),
                state / "moto.log",
            )
        )
        _wait(moto_url, "moto")
        _s3(moto_url).create_bucket(Bucket=BUCKET)
        storage = {
            "storage_instances": {
                "bench": {
                    "type": "s3",
                    "endpoint_url": moto_url,
                    "addressing_style": "path",
                    "credentials": [{"type": "env", "vars": KEYS}],
                    "access": {"allowed_buckets": [BUCKET]},
                }
            }
        }
        (state / "storage.yaml").write_text(yaml.safe_dump(storage))
        env = {
            **os.environ,
            "LLM_GATEWAY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "LLM_GATEWAY_API_KEYS": f"bench:{API_KEY}",
            "LLM_GATEWAY_STORAGE_FILE": str(state / "storage.yaml"),
            "LLM_GATEWAY_LOG_LEVEL": "WARNING",
            "BENCH_S3_KEY_ID": "bench",
            "BENCH_S3_SECRET": "bench-secret",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        argv = [sys.executable, "-m", "cli", "api", "--port", str(api_port)]
        api = stack.enter_context(_process(argv, env, state / "api.log"))
        _wait(f"{api_url}/health", "the API")
        results = _measure(api_url, moto_url, api.pid, block, size, runs)
    _report(results, size_mb, runs)


def _measure(
    api_url: str, moto_url: str, pid: int, block: bytes, size: int, runs: int
) -> dict[str, Any]:
    s3 = _s3(moto_url)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    timings: dict[str, list[float]] = {
        "direct_up": [],
        "direct_down": [],
        "gw_up": [],
        "gw_down": [],
    }
    peaks: list[int] = []
    # urllib3 on both paths (boto3 speaks through it): the same client code reads and writes
    # the bytes, so the difference is the gateway. (httpx's pure-Python HTTP/1.1 parser
    # spent more CPU reading 200 MiB than the API spent serving it.)
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=10, read=600))
    warm_path = f"{api_url}/-s3/bench/put/{BUCKET}/warm.bin"
    warm = http.request("PUT", warm_path, body=block * 9, headers=headers)
    assert warm.status == 200, warm.data
    for i in range(runs):
        key = f"direct-{i}.bin"
        started = time.perf_counter()
        s3.upload_fileobj(_Blocks(block, size), BUCKET, key)
        timings["direct_up"].append(time.perf_counter() - started)
        # One streamed GET, as the gateway reads it. (download_fileobj's concurrent
        # ranged GETs are slower against moto, which copies the object per range.)
        started = time.perf_counter()
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"]
        downloaded = sum(len(chunk) for chunk in body.iter_chunks(BLOCK))
        timings["direct_down"].append(time.perf_counter() - started)
        assert downloaded == size
        s3.delete_object(Bucket=BUCKET, Key=key)

        before = _reset_peak(pid)
        path = f"{api_url}/-s3/bench/put/{BUCKET}/gateway-{i}.bin"
        blocks = (block for _ in range(size // BLOCK))
        started = time.perf_counter()
        put = http.request("PUT", path, body=blocks, headers=headers, chunked=True)
        assert put.status == 200, put.data
        timings["gw_up"].append(time.perf_counter() - started)
        received = 0
        started = time.perf_counter()
        got = http.request(
            "GET", path.replace("/put/", "/get/", 1), headers=headers, preload_content=False
        )
        assert got.status == 200
        for chunk in got.stream(BLOCK):
            received += len(chunk)
        got.release_conn()
        timings["gw_down"].append(time.perf_counter() - started)
        assert received == size
        peaks.append(_rss(pid, "VmHWM") - before)
        http.request("DELETE", path.replace("/put/", "/delete/", 1), headers=headers)
    return {"timings": timings, "peak_growth_bytes": peaks, "size_bytes": size}


def _report(results: dict[str, Any], size_mb: int, runs: int) -> None:
    timings = results["timings"]
    mib = results["size_bytes"] / BLOCK

    def rate(name: str) -> float:
        return mib / (sorted(timings[name])[len(timings[name]) // 2])  # median run

    rows = []
    summary: dict[str, Any] = {}
    for label, direct, gateway in (
        ("upload", "direct_up", "gw_up"),
        ("download", "direct_down", "gw_down"),
    ):
        ratio = rate(gateway) / rate(direct)
        rows.append([label, f"{rate(direct):.0f}", f"{rate(gateway):.0f}", f"{ratio:.0%}"])
        summary[label] = {
            "direct_mib_s": rate(direct),
            "gateway_mib_s": rate(gateway),
            "ratio": ratio,
        }
    table(
        f"Storage throughput, {size_mb} MiB object, median of {runs} runs (MiB/s)",
        ["", "boto3 direct", "through the gateway", "gateway / direct"],
        rows,
    )
    peak = max(results["peak_growth_bytes"]) / BLOCK
    table(
        "API memory",
        ["", "MiB"],
        [["peak RSS growth over a run (upload + download)", f"{peak:.1f}"]],
    )
    save(
        "storage",
        {**summary, "peak_rss_growth_mib": peak, "runs": runs, "size_mib": size_mb, **results},
    )


if __name__ == "__main__":
    app()
