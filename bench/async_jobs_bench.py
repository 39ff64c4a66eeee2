"""Async jobs: no-op jobs end to end through the gateway against bare Celery on the same
Redis, and what a stored job costs in Redis memory. Prints tables and writes
``bench/results/async_jobs.json``.

    python bench/async_jobs_bench.py all                  # both, on one private stack
    python bench/async_jobs_bench.py e2e --jobs 1500      # gateway vs bare Celery
    python bench/async_jobs_bench.py memory --jobs 1000   # Redis bytes per stored job

Bars: end-to-end jobs/s of the gateway ≥ 80 % of bare Celery's; Redis memory per stored job
≤ 2 KB plus its payload (request + result JSON). See bench/README.md.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from job_batches import MODEL, Batch, run_batch
from job_memory import measure_job_memory
from noop_celery import CeleryRun, noop_worker, run_noops
from report import save, table, verdict
from stack import BenchStack, Target, cpu_seconds, interruptible, process_cpu_seconds

RATIO_BAR = 0.80
# The processes whose CPU a job costs on the server side (the emulator stands in for the
# provider, the bench client for the callers).
SERVER_ROLES = ("api", "worker", "redis-server")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Async no-op jobs vs bare Celery, and Redis memory per job. See bench/README.md.",
)


@dataclass(frozen=True, slots=True)
class Options:
    worker_concurrency: int
    worker_processes: int
    keep_state: bool


@app.callback()
def main(
    ctx: typer.Context,
    worker_concurrency: Annotated[
        int, typer.Option(help="threads per worker process, gateway and bare Celery alike")
    ] = 64,
    worker_processes: Annotated[
        int, typer.Option(min=1, help="gateway worker processes per queue")
    ] = 1,
    keep_state: Annotated[bool, typer.Option(help="keep the stack's log dir")] = False,
) -> None:
    """Starts a private stack (its own Redis) per run: the Celery baseline and the memory
    readings need that Redis to themselves."""
    ctx.obj = Options(worker_concurrency, worker_processes, keep_state)


@contextmanager
def started_stack(ctx: typer.Context) -> Iterator[tuple[BenchStack, Target]]:
    opts: Options = ctx.obj
    with interruptible():
        stack = BenchStack(opts.worker_concurrency, opts.keep_state, opts.worker_processes)
        try:
            yield stack, stack.start()
        finally:
            stack.stop()


Jobs = Annotated[int, typer.Option(help="jobs (and bare Celery tasks) to run")]
Clients = Annotated[int, typer.Option(help="concurrent submitting clients (threads for Celery)")]
Rounds = Annotated[
    int, typer.Option(min=1, help="gateway and Celery batches, alternating; median ratio")
]
MemoryJobs = Annotated[int, typer.Option(help="finished jobs to measure Redis memory over")]


@app.command()
def e2e(ctx: typer.Context, jobs: Jobs = 3000, clients: Clients = 50, rounds: Rounds = 1) -> None:
    """Gateway no-op jobs end to end, then bare Celery no-op tasks, on the same Redis."""
    with started_stack(ctx) as (stack, target):
        save("async_jobs", {"e2e": run_e2e(stack, target, jobs, clients, rounds, ctx.obj)})


@app.command()
def memory(
    ctx: typer.Context,
    jobs: MemoryJobs = 1000,
    clients: Clients = 50,
    hash_max_listpack_value: Annotated[
        int | None,
        typer.Option(
            help="CONFIG SET hash-max-listpack-value first (bytes); default: Redis's own (64)"
        ),
    ] = None,
) -> None:
    """Redis memory per finished small job, and where a job's bytes go."""
    with started_stack(ctx) as (_, target):
        mem = measure_job_memory(target, jobs, clients, hash_max_listpack_value)
        save("async_jobs", {"memory": mem.as_dict()})


@app.command(name="all")
def run_all(
    ctx: typer.Context,
    jobs: Jobs = 3000,
    clients: Clients = 50,
    rounds: Rounds = 1,
    memory_jobs: MemoryJobs = 1000,
) -> None:
    """e2e, then memory, on one stack."""
    with started_stack(ctx) as (stack, target):
        result = run_e2e(stack, target, jobs, clients, rounds, ctx.obj)
        mem = measure_job_memory(target, memory_jobs, clients).as_dict()
    save("async_jobs", {"e2e": result, "memory": mem})


def run_e2e(
    stack: BenchStack, target: Target, jobs: int, clients: int, rounds: int, opts: Options
) -> dict[str, Any]:
    """``rounds`` of (gateway batch, bare Celery batch): alternating, so that the shared
    machine's load swings fall on both; the bar is judged on the median ratio."""
    broker = target.redis_url.rsplit("/", 1)[0] + "/1"  # its own database: nothing shared
    # Warm-up, as the Celery worker's readiness task is: connections, imports, first calls.
    run_batch(target, clients, clients)
    with noop_worker(broker, opts.worker_concurrency, stack.state_dir / "celery.log") as pid:
        results = [_round(target, broker, pid, jobs, clients, opts) for _ in range(rounds)]
    ratio = statistics.median(r["ratio"] for r in results)
    errors = sum(sum(r["gateway"]["errors"].values()) for r in results)
    met = ratio >= RATIO_BAR and errors == 0
    rows = [
        (
            f"round {i}",
            f"{r['gateway']['jobs_per_s']:.0f} / {r['celery']['jobs_per_s']:.0f}",
            f"{r['ratio']:.0%}",
            f"{r['gateway']['server_ms_per_job']:.1f} / {r['celery']['server_ms_per_job']:.1f}",
            f"{r['cpu_ratio']:.0%}",
            "",
        )
        for i, r in enumerate(results, 1)
    ]
    cpu_ratio = statistics.median(r["cpu_ratio"] for r in results)
    rows.append(("median", "", f"{ratio:.0%}", "", f"{cpu_ratio:.0%}", verdict(met)))
    table(
        f"async no-op jobs end to end, gateway / bare Celery (bar ≥ {RATIO_BAR:.0%})",
        ("", "jobs/s gateway / Celery", "ratio", "server CPU ms/job", "per-CPU ratio", "status"),
        rows,
    )
    return {
        "jobs": jobs,
        "clients": clients,
        "worker_concurrency": opts.worker_concurrency,
        "worker_processes": opts.worker_processes,
        "rounds": results,
        "ratio": ratio,
        "cpu_ratio": cpu_ratio,
        "gateway_errors": errors,
        "met": met,
    }


def _round(
    target: Target, broker: str, worker_pid: int, jobs: int, clients: int, opts: Options
) -> dict[str, Any]:
    gateway_cpu_before, started = cpu_seconds(target), time.perf_counter()
    batch = run_batch(target, jobs, clients)
    gateway_cpu = _delta(gateway_cpu_before, cpu_seconds(target))
    gateway_wall = time.perf_counter() - started
    gateway = _gateway_numbers(batch, jobs)
    print_gateway(batch, gateway, gateway_cpu, clients)

    before = _celery_cpu(target, worker_pid)
    run = run_noops(broker, jobs, clients, worker_pid)
    celery_cpu = _delta(before, _celery_cpu(target, worker_pid))
    celery = _celery_numbers(run)
    print_celery(run, celery, celery_cpu, clients, opts.worker_concurrency)
    gateway_ms = 1000 * _server_cpu(gateway_cpu) / max(len(batch.finished_at), 1)
    celery_ms = 1000 * _server_cpu(celery_cpu) / run.tasks
    return {
        "gateway": gateway
        | {"cpu_s": gateway_cpu, "wall_s": gateway_wall, "server_ms_per_job": gateway_ms},
        "celery": celery | {"cpu_s": celery_cpu, "server_ms_per_job": celery_ms},
        "ratio": gateway["jobs_per_s"] / celery["jobs_per_s"],
        # Jobs per server CPU second, gateway over Celery: what the ratio would be with the
        # CPU the bottleneck and the machine to ourselves (load swings barely move it).
        "cpu_ratio": celery_ms / gateway_ms,
        "loadavg": os.getloadavg(),
    }


def _gateway_numbers(batch: Batch, jobs: int) -> dict[str, Any]:
    return {
        "jobs_per_s": len(batch.finished_at) / batch.end_to_end_s,
        "submit_per_s": len(batch.ids) / batch.submit_s,
        "end_to_end_s": batch.end_to_end_s,
        "submit_s": batch.submit_s,
        "collect_s": batch.waited - batch.first_submit,
        "outcomes": dict(batch.outcomes),
        "errors": dict(batch.errors),
        "terminal": len(batch.finished_at),
        "submitted": len(batch.ids),
        "asked": jobs,
    }


def _celery_numbers(run: CeleryRun) -> dict[str, float]:
    return {
        "jobs_per_s": run.tasks / (run.done - run.started),
        "submit_per_s": run.tasks / (run.sent - run.started),
        "end_to_end_s": run.done - run.started,
        "submit_s": run.sent - run.started,
    }


def _celery_cpu(target: Target, worker_pid: int) -> dict[str, float]:
    usage = cpu_seconds(target)
    return {
        "celery worker": process_cpu_seconds(worker_pid),
        "redis-server": usage.get("redis-server", 0.0),
        "bench client": usage["bench client"],
    }


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {role: after[role] - before.get(role, 0.0) for role in after}


def _server_cpu(cpu: dict[str, float]) -> float:
    """CPU seconds of the API, the workers (the idle queues' too) and Redis."""
    return sum(s for role, s in cpu.items() if role.startswith((*SERVER_ROLES, "celery")))


def _cpu_rows(cpu: dict[str, float], jobs: int) -> list[tuple[str, str, str]]:
    """Busiest first, CPU seconds and ms per job; then the server side's sum."""
    rows = [
        (role, f"{seconds:.2f}", f"{1000 * seconds / jobs:.3f}")
        for role, seconds in sorted(cpu.items(), key=lambda item: -item[1])
    ]
    server = _server_cpu(cpu)
    rows.append(
        ("server side (api, workers, redis)", f"{server:.2f}", f"{1000 * server / jobs:.3f}")
    )
    return rows


def print_gateway(
    batch: Batch, numbers: dict[str, Any], cpu: dict[str, float], clients: int
) -> None:
    outcomes = ", ".join(f"{k}: {v}" for k, v in batch.outcomes.most_common())
    errors = ", ".join(f"{k}: {v}" for k, v in batch.errors.most_common()) or "0"
    table(
        f"gateway: {numbers['asked']} no-op jobs ({MODEL}, emulator 0 ms), {clients} clients",
        ("submitted", "terminal", "end to end", "jobs/s", "submit/s", "outcomes", "errors"),
        [
            (
                str(numbers["submitted"]),
                str(numbers["terminal"]),
                f"{numbers['end_to_end_s']:.2f} s",
                f"{numbers['jobs_per_s']:.0f}",
                f"{numbers['submit_per_s']:.0f}",
                outcomes,
                errors,
            )
        ],
        left=0,
    )
    n = max(numbers["terminal"], 1)
    table("gateway: CPU per process, whole run", ("process", "CPU s", "ms/job"), _cpu_rows(cpu, n))


def print_celery(
    run: CeleryRun, numbers: dict[str, float], cpu: dict[str, float], clients: int, conc: int
) -> None:
    table(
        f"bare Celery: {run.tasks} no-op tasks, {clients} sending threads, -P threads -c {conc}",
        ("end to end", "jobs/s", "send/s"),
        [
            (
                f"{numbers['end_to_end_s']:.2f} s",
                f"{numbers['jobs_per_s']:.0f}",
                f"{numbers['submit_per_s']:.0f}",
            )
        ],
        left=0,
    )
    table("bare Celery: CPU per process", ("process", "CPU s", "ms/job"), _cpu_rows(cpu, run.tasks))


if __name__ == "__main__":
    app()
