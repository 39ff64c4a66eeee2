"""RAG benchmark: the seed's end-to-end flow through the gateway — upload a document,
presign it, ask a model about it — and what the document cache saves.

    python bench/rag_bench.py                  # 100 KB PDF, 20 runs, emulator at 200 ms
    python bench/rag_bench.py --runs 50 --size-kb 100 --latency-ms 200

The bench starts moto's S3 server on a free port and points the shipped ``local`` storage
route (config/storage.yaml, bucket ``rag-docs``) at it, then a private ``llm-gateway up``
(its own Redis, emulator and workers). Each run uploads a fresh PDF of about ``size_kb``
(``PUT /-s3/local/put/...``), presigns it, and sends ``/v1/chat/completions`` with the
presigned URL as a ``document`` part (the worker fetches it through the SSRF guard, parses
the PDF, and hands it to the OpenAI-type instance as a file part). End to end is the three
calls; the gateway's own share is end to end minus the emulator's latency. Then the same
request is sent again: the document comes from the tenant's Redis cache, and the
difference between the two chat calls is the fetch (and parse) the cache saved. Prints a
table, writes ``bench/results/rag.json``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import boto3
import httpx
import typer
from botocore.config import Config
from report import save, table
from stack import BENCH_API_KEY, bench_target, free_ports, interruptible, nearest_rank

app = typer.Typer(add_completion=False, help=__doc__)

BUCKET = "rag-docs"  # the shipped local route's bucket
MODEL = "gpt-4o-mini"  # the shipped OpenAI instance, which takes PDFs natively
S3_ID, S3_SECRET = "bench", "bench-secret"


def _pdf(size: int) -> bytes:
    """A PDF of about ``size`` bytes: numbered lines of text on as many pages as it takes."""
    lines = [
        f"Line {i}: the quarterly figures are in line with the plan." for i in range(size // 72)
    ]
    pages = [lines[i : i + 60] for i in range(0, len(lines), 60)]
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    kids = []
    for page in pages:
        shown = b" ".join(b"(" + line.encode() + b") Tj T*" for line in page)
        content = b"BT /F1 9 Tf 11 TL 40 760 Td " + shown + b" ET"
        kids.append(len(objects) + 1)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (len(objects) + 2)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    refs = " ".join(f"{k} 0 R" for k in kids)
    objects[1] = f"<< /Type /Pages /Kids [{refs}] /Count {len(kids)} >>".encode()
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@contextmanager
def _moto(port: int, log: Path) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if moto is None:
        raise typer.Exit("moto_server is not installed (pip install 'moto[server]')")
    with log.open("ab") as out:
        proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=S3_ID,
            aws_secret_access_key=S3_SECRET,
            config=Config(s3={"addressing_style": "path"}),
        )
        s3.create_bucket(Bucket=BUCKET)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _chat(http: httpx.Client, url: str) -> float:
    content = [
        {"type": "text", "text": "What do the quarterly figures say?"},
        {"type": "document", "source": {"type": "url", "url": url}},
    ]
    body = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": content}]}
    started = time.perf_counter()
    reply = http.post("/v1/chat/completions", json=body)
    seconds = time.perf_counter() - started
    if reply.status_code != 200:
        raise RuntimeError(f"chat failed: {reply.status_code} {reply.text}")
    return seconds


def _measure(api_url: str, document: bytes, runs: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {
        k: [] for k in ("upload", "presign", "chat", "end_to_end", "chat_cached")
    }
    headers = {"Authorization": f"Bearer {BENCH_API_KEY}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=60) as http:
        for i in range(-1, runs):  # run -1 warms the connections and the PDF parser
            key = f"bench/report-{i + 1}.pdf"
            started = time.perf_counter()
            put = http.put(
                f"/-s3/local/put/{BUCKET}/{key}",
                content=document,
                headers={"content-type": "application/pdf"},
            )
            put.raise_for_status()
            uploaded = time.perf_counter()
            signed = http.get(f"/-s3/local/presign/{BUCKET}/{key}", params={"ttl": 600})
            signed.raise_for_status()
            presigned = time.perf_counter()
            chat = _chat(http, signed.json()["url"])
            if i < 0:
                continue
            timings["upload"].append(uploaded - started)
            timings["presign"].append(presigned - uploaded)
            timings["chat"].append(chat)
            timings["end_to_end"].append(time.perf_counter() - started)
            timings["chat_cached"].append(_chat(http, signed.json()["url"]))
    return timings


@app.command()
def run(
    runs: Annotated[int, typer.Option(help="timed runs")] = 20,
    size_kb: Annotated[int, typer.Option(help="document size in KB")] = 100,
    latency_ms: Annotated[int, typer.Option(help="the emulator's latency per call")] = 200,
) -> None:
    document = _pdf(size_kb * 1000)
    (moto_port,) = free_ports(1)
    with interruptible(), tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        moto_url = stack.enter_context(_moto(moto_port, Path(tmp) / "moto.log"))
        # The shipped storage file's local route, pointed at this moto.
        os.environ.update(
            LLM_GATEWAY_LOCAL_S3_URL=moto_url,
            LOCAL_S3_ACCESS_KEY_ID=S3_ID,
            LOCAL_S3_SECRET_ACCESS_KEY=S3_SECRET,
            AWS_EC2_METADATA_DISABLED="true",
        )
        target = stack.enter_context(bench_target(None, None, BENCH_API_KEY, 16))
        httpx.post(
            f"{target.emulator_url}/_emulator/config", json={"latency_ms": latency_ms}
        ).raise_for_status()
        timings = _measure(target.api_url, document, runs)
    _report(timings, len(document), runs, latency_ms)


def _report(timings: dict[str, list[float]], size: int, runs: int, latency_ms: int) -> None:
    latency = latency_ms / 1000

    def ms(values: list[float], q: float, minus: float = 0.0) -> str:
        return f"{(nearest_rank(values, q) - minus) * 1000:.0f}"

    rows = [
        ("upload (PUT /-s3/local/put)", ms(timings["upload"], 0.5), ms(timings["upload"], 0.95)),
        ("presign", ms(timings["presign"], 0.5), ms(timings["presign"], 0.95)),
        ("chat with the document", ms(timings["chat"], 0.5), ms(timings["chat"], 0.95)),
        ("end to end", ms(timings["end_to_end"], 0.5), ms(timings["end_to_end"], 0.95)),
        (
            "gateway's share (end to end - emulator)",
            ms(timings["end_to_end"], 0.5, latency),
            ms(timings["end_to_end"], 0.95, latency),
        ),
        (
            "chat again (document cached)",
            ms(timings["chat_cached"], 0.5),
            ms(timings["chat_cached"], 0.95),
        ),
    ]
    saved = sorted(a - b for a, b in zip(timings["chat"], timings["chat_cached"], strict=True))
    rows.append(("fetch + parse saved by the cache", ms(saved, 0.5), ms(saved, 0.95)))
    title = f"RAG flow: {size / 1000:.0f} KB PDF, emulator {latency_ms} ms, {runs} runs (ms)"
    table(title, ["step", "p50", "p95"], rows)
    p50 = nearest_rank(timings["end_to_end"], 0.5)
    save(
        "rag",
        {
            "document_bytes": size,
            "runs": runs,
            "emulator_latency_ms": latency_ms,
            "end_to_end_p50_s": p50,
            "end_to_end_p95_s": nearest_rank(timings["end_to_end"], 0.95),
            "gateway_share_p50_s": p50 - latency,
            "cache_saved_p50_s": nearest_rank(saved, 0.5),
            "timings_s": timings,
        },
    )


if __name__ == "__main__":
    app()
