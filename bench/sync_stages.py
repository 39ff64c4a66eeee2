"""Where a synchronous request's time goes, stage by stage, from timestamps the stack already
keeps: the client's send and receipt, the job record (created, claimed, finished) and the
emulator's own record of the provider call (receipt and reply). Sequential requests, the
emulator answering at once, so every stage is the gateway's own cost.

The record's times have millisecond precision, so a single request's stage is ±1 ms; the
medians over ~100 requests are what to read. All clocks are this machine's wall clock."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import redis
from measure import JOB_ID_HEADER
from report import cpu_table, cpu_usage, table
from stack import Target, cpu_seconds, emulator_latency, nearest_rank

from emulator.client import EmulatorControl

# (name, from mark, to mark): consecutive marks, so the stages add up to the whole request.
STAGES = (
    ("HTTP in, parse, route -> job stored", "sent", "created"),
    ("submit script + broker + claim", "created", "started"),
    ("admission, attempt, SDK request -> emulator", "started", "upstream"),
    ("emulator answers", "upstream", "answered"),
    ("SDK reply, paid, release, finish", "answered", "finished"),
    ("notify, read record, respond -> client", "finished", "received"),
)
# How long the background's own Redis rate is measured, before the timed requests.
IDLE_SECONDS = 5.0


@dataclass(slots=True)
class _Sample:
    word: str
    job_id: str
    sent: float
    received: float


def run_stages(target: Target, model: str, requests: int) -> dict[str, dict[str, float]]:
    """``requests`` sequential chat completions through the gateway, then the per-stage
    p50/p99 in ms (also printed as a table)."""
    emulator_latency(target, 0)
    emulator = EmulatorControl(target.emulator_url)
    emulator.clear_requests()
    samples: list[_Sample] = []
    cpu_before, timed_from = cpu_seconds(target), time.perf_counter()
    calls_before: dict[str, int] = {}
    with httpx.Client(base_url=target.api_url, headers=target.auth, timeout=60) as api:
        for i in range(requests + 10):  # 10 warm-up requests, dropped below
            if i == 10:  # CPU per job: the timed requests only
                idle = _idle_calls(target, IDLE_SECONDS)
                cpu_before, timed_from = cpu_seconds(target), time.perf_counter()
                calls_before = _redis_calls(target)
            word = f"stage{i}w"
            body = {"model": model, "messages": [{"role": "user", "content": word}]}
            sent = time.time()
            response = api.post("/v1/chat/completions", json=body)
            received = time.time()
            if response.status_code == 200 and i >= 10:
                job_id = response.headers[JOB_ID_HEADER]
                samples.append(_Sample(word, job_id, sent, received))
        wall = time.perf_counter() - timed_from
        cpu = cpu_usage(cpu_before, cpu_seconds(target), wall, max(requests, 1))
        calls_after = _redis_calls(target)
        calls = _emulator_calls(emulator.requests())
        durations: dict[str, list[float]] = {name: [] for name, _, _ in STAGES}
        for sample in samples:
            call = calls.get(sample.word)
            if call is None:
                continue
            job = api.get(f"/v1/jobs/{sample.job_id}").json()
            marks = {
                "sent": sample.sent,
                "created": _epoch(job["created_at"]),
                "started": _epoch(job["started_at"]),
                "upstream": call[0],
                "answered": call[1],
                "finished": _epoch(job["finished_at"]),
                "received": sample.received,
            }
            for name, start, end in STAGES:
                durations[name].append((marks[end] - marks[start]) * 1000)
    out: dict[str, dict[str, float]] = {}
    rows = []
    for name, values in durations.items():
        out[name] = {"p50": nearest_rank(values, 0.5), "p99": nearest_rank(values, 0.99)}
        rows.append([name, f"{out[name]['p50']:.1f}", f"{out[name]['p99']:.1f}"])
    total = [s.received - s.sent for s in samples]
    rows.append(["whole request", f"{nearest_rank(total, 0.5) * 1000:.1f}", ""])
    title = f"where a sync request's time goes ({model}, {len(samples)} requests, ms)"
    table(title, ["stage", "p50 ms", "p99 ms"], rows)
    if len(cpu) > 1:  # a stack the bench started: its processes' CPU per sequential job
        cpu_table(f"{len(samples)} sequential requests", cpu)
        out["cpu ms per request"] = {role: u["ms_per_request"] for role, u in cpu.items()}
    if calls_after:
        # The workers' and API's background loops (pump, reap, renew, heartbeats) run
        # meanwhile: their rate while idle, over the timed run's wall time, is taken off.
        per_job = {
            name: (n - calls_before.get(name, 0) - idle.get(name, 0.0) * wall) / max(requests, 1)
            for name, n in calls_after.items()
        }
        busiest = sorted(per_job.items(), key=lambda item: -item[1])[:6]
        # Scripts are the round trips a job makes (``evalsha``): always shown.
        shown = (
            busiest
            if "evalsha" in dict(busiest)
            else [*busiest, ("evalsha", per_job.get("evalsha", 0.0))]
        )
        rows = [[name, f"{n:.2f}"] for name, n in shown if n >= 0.05]
        rows.append(["all commands", f"{sum(per_job.values()):.2f}"])
        title = "Redis commands per request (idle background rate taken off)"
        table(title, ["command", "n"], rows)
        out["redis commands per request"] = per_job
    return out


def _idle_calls(target: Target, seconds: float) -> dict[str, float]:
    """Commands per second the stack's Redis runs with no request in flight."""
    before = _redis_calls(target)
    time.sleep(seconds)
    after = _redis_calls(target)
    return {name: (n - before.get(name, 0)) / seconds for name, n in after.items()}


def _redis_calls(target: Target) -> dict[str, int]:
    """Commands the stack's Redis has run so far, by name (``INFO commandstats``); a
    script counts once (``evalsha``) whatever it does inside. Empty for a stack the bench
    did not start."""
    if not target.redis_url:
        return {}
    client = redis.Redis.from_url(target.redis_url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def _emulator_calls(records: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """The emulator's receipt and reply time of each call, by the request's word."""
    calls: dict[str, tuple[float, float]] = {}
    for record in records:
        messages = (record.get("body") or {}).get("messages") or []
        for message in messages:
            content = message.get("content")
            if isinstance(content, list):  # content parts
                content = " ".join(str(p.get("text", "")) for p in content)
            if isinstance(content, str) and content.startswith("stage"):
                calls.setdefault(content, (record["t"], record.get("t_done") or record["t"]))
    return calls


def _epoch(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()


# Under load the emulator's records are not matched (every request is the same), so the
# call and its upstream wait are one stage.
LOAD_STAGES = (
    ("HTTP in, parse, route -> job stored", "sent", "created"),
    ("submit script + broker + claim", "created", "started"),
    ("admission, call (upstream included), finish", "started", "finished"),
    ("notify, read record, respond -> client", "finished", "received"),
)


LOAD_QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))


def stages_under_load(
    target: Target, jobs: list[tuple[str, float, float]], sample: int = 300
) -> dict[str, dict[str, float]]:
    """Where a loaded run's requests spent their time, from ``sample`` of its answered
    jobs' records (evenly spread over the run): p50/p90/p99 ms per stage, also printed."""
    step = max(1, len(jobs) // sample)
    durations: dict[str, list[float]] = {name: [] for name, _, _ in LOAD_STAGES}
    with httpx.Client(base_url=target.api_url, headers=target.auth, timeout=60) as api:
        for job_id, sent, received in jobs[::step]:
            job = api.get(f"/v1/jobs/{job_id}").json()
            marks = {
                "sent": sent,
                "created": _epoch(job["created_at"]),
                "started": _epoch(job["started_at"]),
                "finished": _epoch(job["finished_at"]),
                "received": received,
            }
            for name, start, end in LOAD_STAGES:
                durations[name].append((marks[end] - marks[start]) * 1000)
    out: dict[str, dict[str, float]] = {}
    rows = []
    for name, values in durations.items():
        if not values:
            continue
        out[name] = {q: nearest_rank(values, f) for q, f in LOAD_QUANTILES}
        rows.append([name, *(f"{out[name][q]:.1f}" for q, _ in LOAD_QUANTILES)])
    count = len(durations[LOAD_STAGES[0][0]])
    title = f"where the loaded requests' time goes ({count} of them, ms)"
    table(title, ["stage", *(q for q, _ in LOAD_QUANTILES)], rows)
    return out
