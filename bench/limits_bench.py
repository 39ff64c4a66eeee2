"""Provider-limit fidelity and utilization: does the gateway keep each instance's ``rpm``,
``tpm`` and ``max_concurrency`` — across every worker process — and how close to them
does it run?

    python -m bench.limits_bench                    # 150 s, rpm 120, tpm 6000, 5 in flight
    python -m bench.limits_bench --duration-s 65 --rpm 60      # ~2 min smoke check

A private stack (``bench/stack.py``) runs a generated providers file with three emulator
instances, one limit each. A backlog big enough to keep each limit busy for
``--duration-s`` goes in through ``POST /v1/jobs``; once every job has finished, the
emulator's request log says what actually reached the "provider". See bench/README.md.
"""

from __future__ import annotations

import asyncio
import json
import math
import ssl
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import chain, zip_longest
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import typer
import yaml

# bench/ is a directory of scripts that import each other as top-level modules (see
# gateway_bench.py); this makes that work under ``python -m bench.limits_bench`` too.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from limit_windows import WINDOW_S, concurrency_stats, window_stats
from measure import percentile
from report import console, cpu_table, cpu_usage, save, table, verdict
from stack import BenchStack, Target, clear_emulator_records, cpu_seconds, interruptible

# The emulator counts ceil(chars / 4) tokens of the prompt with directives stripped, and
# the reply "ok" is 1 token: every tpm request costs exactly 99 + 1 = 100 tokens. Both the
# emulator and the gateway's estimate count characters, so any 396 of them will do.
PROMPT_CHARS = 396
PROMPT = "x" * PROMPT_CHARS
REPLY = "ok"
REQUEST_TOKENS = math.ceil(PROMPT_CHARS / 4) + math.ceil(len(REPLY) / 4)
# Fixed, so the gateway's reservation (prompt chars / 4 + max_tokens) is known too; it is
# settled down to the real usage after each call.
MAX_TOKENS = 16
SUBMITTERS = 8
WAITERS = 32

Kind = Literal["rpm", "tpm", "concurrency"]


@dataclass(frozen=True, slots=True)
class Options:
    """The command line."""

    rpm: int
    tpm: int
    concurrency: int
    duration_s: float
    latency_ms: int
    worker_processes: int
    worker_concurrency: int
    keep_state: bool


@dataclass(frozen=True, slots=True)
class Probe:
    """One benched instance: the limit it has and the backlog that keeps it saturated."""

    instance: str
    kind: Kind
    limit: int
    jobs: int
    content: str

    @property
    def model(self) -> str:
        return f"{self.instance}-model"

    def limits(self) -> dict[str, int]:
        key = "max_concurrency" if self.kind == "concurrency" else self.kind
        return {key: self.limit}

    def job_body(self) -> dict[str, Any]:
        request = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.content}],
            "max_tokens": MAX_TOKENS,
        }
        return {"type": "completion", "request": request}


@dataclass(frozen=True, slots=True)
class JobTimes:
    """What the bench keeps of one job's final record."""

    instance: str
    status: str
    created_at: float
    started_at: float | None
    finished_at: float | None


def directive(**fields: object) -> str:
    """The emulator's in-text directive (``emulator/directives.py``), written out here so
    the bench does not import the project."""
    return f"<<emulator:{json.dumps(fields)}>>"


def make_probes(opts: Options) -> list[Probe]:
    """The three instances, each with a backlog of limit x duration (+1 job, so the last
    full window still has work queued behind it)."""
    minutes = opts.duration_s / WINDOW_S
    latency_s = opts.latency_ms / 1000
    short = directive(reply=REPLY)
    return [
        Probe("bench-rpm", "rpm", opts.rpm, math.ceil(opts.rpm * minutes) + 1, f"rpm {short}"),
        Probe(
            "bench-tpm",
            "tpm",
            opts.tpm,
            math.ceil(opts.tpm * minutes / REQUEST_TOKENS) + 1,
            f"{PROMPT} {short}",
        ),
        Probe(
            "bench-conc",
            "concurrency",
            opts.concurrency,
            math.ceil(opts.concurrency * opts.duration_s / latency_s) + 1,
            f"conc {directive(reply=REPLY, latency_ms=opts.latency_ms)}",
        ),
    ]


def providers_yaml(probes: Sequence[Probe]) -> str:
    """A providers file with one emulator-backed openai instance per probe."""
    instances = {
        probe.instance: {
            "type": "openai",
            # No default on purpose: the stack always sets it to its emulator, and a bench
            # must never reach a real provider.
            "base_url": "${OPENAI_BASE_URL}",
            "api_key_env": "OPENAI_API_KEY",
            "models": [probe.model],
            "limits": probe.limits(),
        }
        for probe in probes
    }
    return yaml.safe_dump({"default_model": None, "instances": instances}, sort_keys=False)


class LimitsStack(BenchStack):
    """The bench stack, running the generated providers file (kept in its state dir)."""

    def __init__(self, probes: Sequence[Probe], opts: Options) -> None:
        super().__init__(opts.worker_concurrency, opts.keep_state, opts.worker_processes)
        self.providers_file = self.state_dir / "providers.yaml"
        self.providers_file.write_text(providers_yaml(probes))

    def _env(self, target: Target, redis_port: int) -> dict[str, str]:
        env = super()._env(target, redis_port)
        env["LLM_GATEWAY_PROVIDERS_FILE"] = str(self.providers_file)
        return env


# --- load: submit the backlogs, wait for every job -------------------------------------


def interleaved(probes: Sequence[Probe]) -> list[tuple[Probe, dict[str, Any]]]:
    """Round-robin over the instances, so each backlog starts filling at once rather than
    after the bigger ones are submitted."""
    per_probe = [[(p, p.job_body())] * p.jobs for p in probes]
    return [job for job in chain.from_iterable(zip_longest(*per_probe)) if job is not None]


def _client(target: Target, tls: ssl.SSLContext) -> httpx.AsyncClient:
    # One connection per client: a shared pool costs O(connections) per request in httpcore
    # (see measure.closed_loop).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return httpx.AsyncClient(
        base_url=target.api_url, headers=target.auth, limits=limits, timeout=120, verify=tls
    )


async def submit_all(
    target: Target, jobs: Sequence[tuple[Probe, dict[str, Any]]]
) -> tuple[dict[str, str], Counter[str]]:
    """Job id → instance for every accepted job, and the rejects by status."""
    accepted: dict[str, str] = {}
    rejected: Counter[str] = Counter()
    todo = iter(jobs)
    tls = ssl.create_default_context()

    async def submitter() -> None:
        async with _client(target, tls) as client:
            for probe, body in todo:  # shared iterator: each job is taken once
                response = await client.post("/v1/jobs", json=body)
                if response.status_code == 202:
                    accepted[response.json()["id"]] = probe.instance
                else:
                    rejected[str(response.status_code)] += 1

    await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
    return accepted, rejected


async def wait_all(target: Target, accepted: dict[str, str], deadline: float) -> list[JobTimes]:
    """Every job's final record (or its last state at ``deadline``, monotonic).

    Long polls on ``/wait`` rather than GET loops: the completion hub answers the moment a
    job ends, so the bench costs the API little while the workers run."""
    done: list[JobTimes] = []
    todo = iter(accepted.items())
    tls = ssl.create_default_context()

    async def waiter() -> None:
        async with _client(target, tls) as client:
            for job_id, instance in todo:
                record = await _wait_one(client, job_id, deadline)
                done.append(job_times(instance, record))

    await asyncio.gather(*(waiter() for _ in range(WAITERS)))
    return done


async def _wait_one(client: httpx.AsyncClient, job_id: str, deadline: float) -> dict[str, Any]:
    while True:
        remaining = deadline - time.monotonic()
        timeout = max(0.0, min(remaining, 60.0))
        response = await client.get(f"/v1/jobs/{job_id}/wait", params={"timeout": timeout})
        response.raise_for_status()
        if response.status_code == 200 or remaining <= 0:
            record: dict[str, Any] = response.json()
            return record


def job_times(instance: str, record: dict[str, Any]) -> JobTimes:
    def epoch(field: str) -> float | None:
        value = record.get(field)
        return datetime.fromisoformat(value).timestamp() if value else None

    created = epoch("created_at")
    assert created is not None  # every record has one
    return JobTimes(instance, record["status"], created, epoch("started_at"), epoch("finished_at"))


def run_load(target: Target, probes: Sequence[Probe], budget_s: float) -> dict[str, Any]:
    """Submit the backlogs, wait until every job has ended (or ``budget_s`` has passed)."""
    clear_emulator_records(target)  # also restarts the emulator's peak in-flight count
    jobs = interleaved(probes)
    console.print(
        f"submitting {len(jobs)} jobs ("
        + ", ".join(f"{p.instance} {p.jobs}" for p in probes)
        + f"); waiting up to {budget_s:.0f} s"
    )
    started = time.monotonic()
    accepted, rejected = asyncio.run(submit_all(target, jobs))
    submit_s = time.monotonic() - started
    finished = asyncio.run(wait_all(target, accepted, started + budget_s))
    return {
        "submit_s": submit_s,
        "wall_s": time.monotonic() - started,
        "rejected": rejected,
        "jobs": finished,
    }


def emulator_view(target: Target) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The emulator's request log and its in-flight counters."""
    base = f"{target.emulator_url}/_emulator"
    records = httpx.get(f"{base}/requests", timeout=60).raise_for_status().json()["requests"]
    stats = httpx.get(f"{base}/stats", timeout=10).raise_for_status().json()
    return records, stats


# --- analysis ----------------------------------------------------------------------------


def job_stats(jobs: Sequence[JobTimes]) -> dict[str, Any]:
    """Outcomes, and seconds from submission to the (last) claim and to the end."""
    waits = [j.started_at - j.created_at for j in jobs if j.started_at is not None]
    totals = [j.finished_at - j.created_at for j in jobs if j.finished_at is not None]
    return {
        "statuses": dict(Counter(j.status for j in jobs)),
        "wait_s": {"p50": percentile(waits, 50), "p95": percentile(waits, 95)},
        "done_s": {"p50": percentile(totals, 50), "p95": percentile(totals, 95)},
    }


def analyse(
    probe: Probe, records: Sequence[dict[str, Any]], jobs: Sequence[JobTimes], latency_s: float
) -> dict[str, Any]:
    mine = sorted((r for r in records if r["model"] == probe.model), key=lambda r: r["t"])
    times = [float(r["t"]) for r in mine]
    if probe.kind == "concurrency":
        limit_stats = concurrency_stats(mine, probe.limit, latency_s)
    else:
        weights = [_tokens(r) for r in mine] if probe.kind == "tpm" else [1.0] * len(times)
        limit_stats = window_stats(times, weights, probe.limit)
        # Few enough to keep, and what a post-mortem of a window over the limit needs.
        pairs = zip(times, weights, strict=True)
        limit_stats["calls"] = [[round(t - times[0], 4), w] for t, w in pairs]
    own_jobs = [j for j in jobs if j.instance == probe.instance]
    claims = [j.started_at for j in own_jobs if j.started_at is not None]
    return {
        "kind": probe.kind,
        "limit": probe.limit,
        # A cold worker builds its provider client after admission: this is how late its
        # first call reached the provider (claim and admission are milliseconds apart).
        "first_call_delay_s": times[0] - min(claims) if times and claims else None,
        "backlog": probe.jobs,
        "provider_calls": len(mine),
        "provider_errors": sum(1 for r in mine if r["status"] != 200),
        **limit_stats,
        "jobs": job_stats(own_jobs),
    }


def _tokens(record: dict[str, Any]) -> float:
    usage = record.get("usage") or {}
    return float(usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))


def log_evidence(path: Path) -> dict[str, int]:
    """Warnings and errors in the stack log (JSON lines at WARNING), by level and event,
    plus tracebacks: the first place to look when a limit is exceeded or jobs fail."""
    found: Counter[str] = Counter()
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    for line in lines:
        if line.startswith("Traceback"):
            found["traceback"] += 1
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") in ("warning", "error", "critical"):
            found[f"{entry['level']}: {entry.get('event')}"] += 1
    return dict(found.most_common())


# --- report ------------------------------------------------------------------------------


def result_row(instance: str, res: dict[str, Any]) -> tuple[str, ...]:
    """One instance; rpm/tpm rates are per minute, the concurrency rate per second."""
    kind: Kind = res["kind"]
    achieved, util = res["achieved"], res["utilization"]
    if kind == "concurrency":
        limit = f"{res['limit']} in flight"
        rate = "—" if achieved is None else f"{achieved:.1f}/s of {res['ideal']:.1f}"
        measured = f"{res['span_s']:.0f} s"
    else:
        limit = f"{res['limit']} {kind}"
        rate = "—" if achieved is None else f"{achieved:.0f}/min"
        measured = f"{len(res['full_windows'])} x 60 s"
    statuses = res["jobs"]["statuses"]
    others = sum(n for s, n in statuses.items() if s not in ("succeeded", "failed"))
    wait = res["jobs"]["wait_s"]
    return (
        instance,
        limit,
        f"{statuses.get('succeeded', 0)} / {statuses.get('failed', 0)}"
        + (f" +{others}?" if others else ""),
        f"{res['peak']:.0f}",
        f"{res['fidelity']:.2f} {verdict(res['fidelity'] <= 1.0)}",
        rate,
        "—" if util is None else f"{util:.1%}",
        measured,
        f"{wait['p50']:.1f} / {wait['p95']:.1f}",
    )


COLUMNS = (
    "instance",
    "limit",
    "ok / failed",
    "peak",
    "peak/limit",
    "achieved",
    "utilization",
    "over",
    "wait p50/p95 s",
)


def report(results: dict[str, Any], opts: Options) -> None:
    rows = [result_row(name, res) for name, res in results["instances"].items()]
    title = (
        f"provider limits: {opts.duration_s:g} s backlogs, {opts.worker_processes} worker "
        f"process(es) x {opts.worker_concurrency} threads per queue"
    )
    table(title, COLUMNS, rows)
    console.print(
        f"emulator peak in flight, all instances together: "
        f"{results['emulator']['peak_in_flight']}; submitted in {results['submit_s']:.1f} s, "
        f"all done after {results['wall_s']:.1f} s"
    )
    for name, res in results["instances"].items():
        if res["kind"] == "concurrency":
            continue
        if not res["full_windows"]:
            console.print(f"[yellow]{name}: no full 60 s window; raise --duration-s[/]")
        if res["fidelity"] > 1:
            edge = res["holds_with_edge_s"]
            holds = "not even" if edge is None else f"{1000 * edge:.0f} ms"
            console.print(
                f"[bold red]{name}: {res['peak']:.0f} in the 60 s from "
                f"+{res['peak_window_at_s']:.3f} s; the limit holds in windows {holds} shorter; "
                f"first call {1000 * res['first_call_delay_s']:.0f} ms after the first claim[/]"
            )
    problems = {
        "submissions rejected": results["rejected"],
        "provider errors at the emulator": {
            name: res["provider_errors"]
            for name, res in results["instances"].items()
            if res["provider_errors"]
        },
        "jobs not finished in time": results["unfinished"],
        "stack log warnings/errors": results["stack_log"],
    }
    for label, found in problems.items():
        if found:
            console.print(f"[bold red]{label}:[/] {found}")
    if results["cpu"]:
        cpu_table("limits run", results["cpu"])


# --- command -----------------------------------------------------------------------------


def run(opts: Options) -> dict[str, Any]:
    probes = make_probes(opts)
    if opts.worker_processes * opts.worker_concurrency <= opts.concurrency:
        console.print(
            "[yellow]fewer worker threads than --concurrency: the threads, not the "
            "limiter, will cap bench-conc[/]"
        )
    stack = LimitsStack(probes, opts)
    try:
        target = stack.start()
        cpu_before = cpu_seconds(target)
        # Generous: a gateway at half the limits still finishes, and gets measured.
        load = run_load(target, probes, budget_s=3 * opts.duration_s + 120)
        # On a small machine the stack's CPU, not its limiter, can be what caps throughput.
        cpu = cpu_usage(cpu_before, cpu_seconds(target), load["wall_s"], len(load["jobs"]))
        records, stats = emulator_view(target)
        log = log_evidence(stack.log_path)
    finally:
        stack.stop()
    latency_s = opts.latency_ms / 1000
    return {
        "options": asdict(opts),
        "submit_s": load["submit_s"],
        "wall_s": load["wall_s"],
        "rejected": dict(load["rejected"]),
        "unfinished": sum(1 for j in load["jobs"] if j.finished_at is None),
        "emulator": stats,
        "stack_log": log,
        "cpu": cpu,
        "instances": {p.instance: analyse(p, records, load["jobs"], latency_s) for p in probes},
    }


def main(
    rpm: Annotated[int, typer.Option(min=1, help="limits.rpm of bench-rpm")] = 120,
    tpm: Annotated[
        int,
        typer.Option(min=200, help=f"limits.tpm of bench-tpm ({REQUEST_TOKENS} tokens/request)"),
    ] = 6000,
    concurrency: Annotated[
        int, typer.Option(min=1, help="limits.max_concurrency of bench-conc")
    ] = 5,
    duration_s: Annotated[
        float, typer.Option(min=1, help="backlog per instance, in seconds at its limit")
    ] = 150,
    latency_ms: Annotated[int, typer.Option(min=1, help="emulator latency for bench-conc")] = 300,
    worker_processes: Annotated[int, typer.Option(min=1, help="worker processes per queue")] = 1,
    worker_concurrency: Annotated[int, typer.Option(min=1, help="threads per worker")] = 16,
    keep_state: Annotated[
        bool, typer.Option(help="keep the stack's log and providers file")
    ] = False,
) -> None:
    """Saturate one rpm, one tpm and one max_concurrency instance; measure what reached
    the emulator against each limit."""
    opts = Options(
        rpm,
        tpm,
        concurrency,
        duration_s,
        latency_ms,
        worker_processes,
        worker_concurrency,
        keep_state,
    )
    with interruptible():
        results = run(opts)
    report(results, opts)
    save("limits", results)


if __name__ == "__main__":
    typer.run(main)
