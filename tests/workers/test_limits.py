"""Global provider limits, end to end: three worker processes share one instance's limits
through Redis, and the emulator's record of every upstream request is the judge.

One backlog per limited instance is submitted at once and run to the end (a little over
two minutes: the rpm and tpm windows are real minutes); the tests then read the record.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from emulator import EmulatorControl, directive
from tests.conftest import KEY_A
from tests.support.processes import Stack

RPM, TPM, CONCURRENCY = 60, 2000, 5
RPM_JOBS, TPM_JOBS, CONC_JOBS = 125, 200, 40
WINDOW = 60.0
# 80 characters: 20 prompt tokens at the emulator's 4 characters per token.
TPM_TEXT = "0123456789" * 8


@dataclass
class LimitedRun:
    """Jobs submitted per model, in submission order, and what the emulator saw."""

    jobs: dict[str, list[str]]
    records: list[dict[str, Any]]
    statuses: dict[str, tuple[str, int]]

    def served(self, model: str) -> list[dict[str, Any]]:
        return sorted(
            (r for r in self.records if r["model"] == model and r["status"] == 200),
            key=lambda r: r["t"],
        )


def submit(client: httpx.Client, model: str, text: str, max_tokens: int | None = None) -> str:
    request: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
    if max_tokens is not None:
        request["max_tokens"] = max_tokens
    response = client.post("/v1/jobs", json={"type": "completion", "request": request})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_all(client: redis.Redis, job_ids: list[str], seconds: float) -> dict[str, tuple[str, int]]:
    deadline = time.monotonic() + seconds
    while True:
        pipe = client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(f"llmgw:job:{job_id}", "status", "attempts")
        replies = pipe.execute()
        statuses = {
            job_id: (status.decode(), int(attempts or 0))
            for job_id, (status, attempts) in zip(job_ids, replies, strict=True)
        }
        if all(s in ("succeeded", "failed", "cancelled") for s, _ in statuses.values()):
            return statuses
        if time.monotonic() > deadline:
            pending = sum(s not in ("succeeded", "failed") for s, _ in statuses.values())
            raise AssertionError(f"{pending} jobs still pending")
        time.sleep(1)


@pytest.fixture(scope="module")
def limited_run(stack: Stack) -> Iterator[LimitedRun]:
    control = EmulatorControl(stack.emulator_url)
    control.reset()
    short = directive(reply="ok")
    slow = directive(latency_ms=300)
    jobs: dict[str, list[str]] = {}
    with httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=30
    ) as client:
        jobs["limited-rpm-model"] = [
            submit(client, "limited-rpm-model", f"rpm job {i}") for i in range(RPM_JOBS)
        ]
        jobs["limited-tpm-model"] = [
            submit(client, "limited-tpm-model", f"{TPM_TEXT}{short}", max_tokens=4)
            for _ in range(TPM_JOBS)
        ]
        jobs["limited-conc-model"] = [
            submit(client, "limited-conc-model", f"conc {i} {slow}") for i in range(CONC_JOBS)
        ]
    client_redis = redis.Redis.from_url(stack.redis.url)
    all_ids = [job_id for ids in jobs.values() for job_id in ids]
    statuses = wait_all(client_redis, all_ids, seconds=260)
    client_redis.close()
    yield LimitedRun(jobs, control.requests(), statuses)
    control.reset()


def max_in_window(
    times: list[float], window: float = WINDOW, weights: list[int] | None = None
) -> int:
    """The most (weighted) requests in any window that starts at a request."""
    weights = weights or [1] * len(times)
    best, j, total = 0, 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + window:
            total += weights[j]
            j += 1
        best = max(best, total)
        total -= weights[i]
    return best


def full_windows(times: list[float], weights: list[int]) -> list[int]:
    """(Weighted) counts in consecutive whole windows from the first request."""
    start, counts = times[0], []
    while start + WINDOW <= times[-1]:
        counts.append(
            sum(w for t, w in zip(times, weights, strict=True) if start <= t < start + WINDOW)
        )
        start += WINDOW
    return counts


@pytest.mark.timeout(400)
def test_every_limited_job_succeeds_and_waiting_is_not_an_attempt(limited_run: LimitedRun) -> None:
    assert {status for status, _ in limited_run.statuses.values()} == {"succeeded"}
    assert {attempts for _, attempts in limited_run.statuses.values()} == {1}


@pytest.mark.timeout(400)
def test_rpm_no_60s_window_at_the_provider_exceeds_the_limit(limited_run: LimitedRun) -> None:
    times = [r["t"] for r in limited_run.served("limited-rpm-model")]
    assert len(times) == RPM_JOBS
    assert max_in_window(times) <= RPM


@pytest.mark.timeout(400)
def test_rpm_backlog_uses_at_least_95_percent_of_the_allowed_rate(limited_run: LimitedRun) -> None:
    times = [r["t"] for r in limited_run.served("limited-rpm-model")]
    windows = full_windows(times, [1] * len(times))
    assert len(windows) >= 2
    assert sum(windows) / (len(windows) * RPM) >= 0.95, windows


@pytest.mark.timeout(400)
def test_rpm_backlog_drains_oldest_first(limited_run: LimitedRun) -> None:
    order = {job_text: i for i, job_text in enumerate(f"rpm job {i}" for i in range(RPM_JOBS))}
    served = limited_run.served("limited-rpm-model")
    indexes = [order[r["body"]["messages"][0]["content"]] for r in served]
    first_minute, last = indexes[:RPM], indexes[2 * RPM :]
    assert len(set(first_minute) & set(range(RPM))) >= 0.9 * RPM
    assert max(first_minute) < min(last)


@pytest.mark.timeout(400)
def test_tpm_no_60s_window_at_the_provider_exceeds_the_limit(limited_run: LimitedRun) -> None:
    served = limited_run.served("limited-tpm-model")
    assert len(served) == TPM_JOBS
    tokens = [r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"] for r in served]
    assert max_in_window([r["t"] for r in served], weights=tokens) <= TPM


@pytest.mark.timeout(400)
def test_tpm_backlog_uses_at_least_95_percent_of_the_allowed_tokens(
    limited_run: LimitedRun,
) -> None:
    served = limited_run.served("limited-tpm-model")
    tokens = [r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"] for r in served]
    windows = full_windows([r["t"] for r in served], tokens)
    assert len(windows) >= 2
    assert sum(windows) / (len(windows) * TPM) >= 0.95, windows


@pytest.mark.timeout(400)
def test_max_concurrency_is_never_exceeded_and_is_reached(limited_run: LimitedRun) -> None:
    served = limited_run.served("limited-conc-model")
    assert len(served) == CONC_JOBS
    events = sorted([(r["t"], 1) for r in served] + [(r["t_done"], -1) for r in served])
    level = peak = 0
    for _, change in events:
        level += change
        peak = max(peak, level)
    assert peak == CONCURRENCY
