"""Batch enhancement throughput: documents per minute for one ``POST /v1/batches`` against
the rate the benched instance's limits allow.

    python bench/batch_bench.py                         # 200 documents, 16 in flight, 600 rpm
    python bench/batch_bench.py --documents 40 --rpm 6000 --no-review

A private stack (``bench/stack.py``) runs a generated providers file with one emulator
instance and explicit limits (no ``tpm``). Every document is enhanced by the emulator's
enhancer persona: gather (a ``search_corpus`` call on the stand-in, then notes), enhance,
the gateway's checks, review: 4 model calls (3 without review). See bench/README.md.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # see limits_bench.py

from batch_analysis import Limits, call_stats, ideal, result_stats, slot_use, tool_stats
from batch_load import documents, run_batch
from batch_report import report
from limits_bench import log_evidence
from report import console, cpu_usage, save
from stack import (
    BenchStack,
    Target,
    clear_emulator_records,
    cpu_seconds,
    emulator_latency,
    interruptible,
)

from emulator.client import EmulatorControl
from emulator.downstream import DownstreamControl

INSTANCE = "bench-batch"
MODEL = "bench-batch-model"


@dataclass(frozen=True, slots=True)
class Options:
    """The command line."""

    documents: int
    latency_ms: int
    max_concurrency: int
    rpm: int
    review: bool
    worker_processes: int
    worker_concurrency: int
    keep_state: bool

    @property
    def limits(self) -> Limits:
        return Limits(self.max_concurrency, self.rpm or None, self.latency_ms / 1000)

    @property
    def calls_per_document(self) -> int:
        """gather: search + notes; enhance; review (optional)."""
        return 4 if self.review else 3


def providers_yaml(opts: Options) -> str:
    """One OpenAI-type instance on the emulator, with the bench's limits and no tpm."""
    limits: dict[str, int] = {"max_concurrency": opts.max_concurrency}
    if opts.rpm:
        limits["rpm"] = opts.rpm
    instance = {
        "type": "openai",
        # No default: the stack always points it at its emulator, never at a real provider.
        "base_url": "${OPENAI_BASE_URL}",
        "api_key_env": "OPENAI_API_KEY",
        "models": [MODEL],
        "limits": limits,
    }
    return yaml.safe_dump({"default_model": None, "instances": {INSTANCE: instance}})


class BatchStack(BenchStack):
    """The bench stack, running the generated providers file (kept in its state dir)."""

    def __init__(self, opts: Options) -> None:
        super().__init__(opts.worker_concurrency, opts.keep_state, opts.worker_processes)
        self.providers_file = self.state_dir / "providers.yaml"
        self.providers_file.write_text(providers_yaml(opts))

    def _env(self, target: Target, redis_port: int) -> dict[str, str]:
        env = super()._env(target, redis_port)
        env["LLM_GATEWAY_PROVIDERS_FILE"] = str(self.providers_file)
        return env


def batch_body(opts: Options) -> dict[str, Any]:
    return {
        "model": MODEL,
        "documents": documents(opts.documents),
        "options": {"review": opts.review},
        "metadata": {"bench": "batch"},
    }


def run(opts: Options) -> dict[str, Any]:
    nominal = ideal(opts.limits, opts.documents * opts.calls_per_document, opts.documents)
    # Generous: a gateway at a tenth of the ideal still finishes, and gets measured.
    budget_s = max(300.0, 10 * nominal["empty_window_wall_s"])
    stack = BatchStack(opts)
    try:
        target = stack.start()
        emulator_latency(target, opts.latency_ms)
        clear_emulator_records(target)
        stand_in = DownstreamControl(target.downstream_url)
        stand_in.reset()
        console.print(
            f"submitting {opts.documents} documents in one batch; waiting up to {budget_s:.0f} s"
        )
        cpu_before = cpu_seconds(target)
        batch = run_batch(target, INSTANCE, batch_body(opts), budget_s)
        records = EmulatorControl(target.emulator_url, timeout=120).requests()
        records = [r for r in records if r["model"] == MODEL]
        calls = call_stats(records, opts.limits)
        cpu = cpu_usage(cpu_before, cpu_seconds(target), batch.wall_s, calls["calls"])
        tools = tool_stats(stand_in.requests("/v1/"))
        log = log_evidence(stack.log_path)
    finally:
        stack.stop()
    best = ideal(opts.limits, calls["calls"], opts.documents)
    achieved = 60 * opts.documents / batch.wall_s if batch.wall_s > 0 else math.nan
    return {
        "options": asdict(opts),
        "workers": worker_settings(opts),
        "batch": {
            "id": batch.batch_id,
            "status": batch.final.get("status"),
            "request_counts": batch.final.get("request_counts"),
            "timed_out": batch.timed_out,
            "accept_s": batch.accepted_s,
            "wall_s": batch.wall_s,
            "docs_per_min": achieved,
        },
        "ideal": best,
        "of_ideal": achieved / best["docs_per_min"],
        "of_empty_window_ideal": achieved / best["empty_window_docs_per_min"],
        "outcomes": result_stats(batch.results),
        "calls": calls,
        "tools": tools,
        "slots": slot_use(batch.samples, records, opts.limits),
        "cpu": cpu,
        "stack_log": log,
        "timeline": batch.samples,
    }


def worker_settings(opts: Options) -> dict[str, int]:
    return {
        "processes": opts.worker_processes,
        "threads_per_process": opts.worker_concurrency,
        "threads": opts.worker_processes * opts.worker_concurrency,
    }


def main(
    documents: Annotated[int, typer.Option(min=1, help="documents in the batch")] = 200,
    latency_ms: Annotated[int, typer.Option(min=1, help="emulator latency per model call")] = 300,
    max_concurrency: Annotated[
        int, typer.Option(min=1, help="limits.max_concurrency of the instance")
    ] = 16,
    rpm: Annotated[int, typer.Option(min=0, help="limits.rpm of the instance (0: none)")] = 600,
    review: Annotated[bool, typer.Option(help="options.review: the 4th model call")] = True,
    worker_processes: Annotated[int, typer.Option(min=1, help="worker processes per queue")] = 1,
    worker_concurrency: Annotated[
        int, typer.Option(min=0, help="threads per worker process (0: 2 x max-concurrency in all)")
    ] = 0,
    keep_state: Annotated[
        bool, typer.Option(help="keep the stack's log and providers file")
    ] = False,
) -> None:
    """Enhance one batch of generated documents; compare documents/min with the limits."""
    threads = worker_concurrency or math.ceil(2 * max_concurrency / worker_processes)
    opts = Options(
        documents, latency_ms, max_concurrency, rpm, review, worker_processes, threads, keep_state
    )
    console.print(
        f"workers: {worker_processes} process(es) x {threads} threads per queue "
        f"({worker_processes * threads} on {INSTANCE}) for max_concurrency {max_concurrency}; "
        f"limits: max_concurrency {max_concurrency}, rpm {rpm or 'none'}, tpm none"
    )
    if worker_processes * threads <= max_concurrency:
        console.print(
            "[yellow]worker threads ≤ max-concurrency: the workers, not the limit, cap it[/]"
        )
    with interruptible():
        results = run(opts)
    report(results)
    save("batch", results)


if __name__ == "__main__":
    typer.run(main)
