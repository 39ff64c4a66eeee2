"""Submit a batch of small async jobs over HTTP and wait until every one is terminal: the
load of ``async_jobs_bench.py``.

Each of the clients is its own ``httpx.AsyncClient`` with one keep-alive connection (one
shared client with a big pool measures httpcore's pool walk instead: see
``measure.closed_loop``). The clients take the next job from one shared counter, so they
submit as fast as the API accepts. Waiting is one ``GET /v1/jobs/{id}/wait`` per job, after
all are submitted: most are finished by then, and that call answers them with one read;
the rest it holds until the completion notice, without polling.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from stack import Target

MODEL = "gpt-4o-mini"
SMALL_JOB: dict[str, Any] = {
    "type": "completion",
    "request": {"model": MODEL, "messages": [{"role": "user", "content": "Say hi."}]},
}
WAIT_S = 60.0


@dataclass(slots=True)
class Batch:
    """What one batch saw. Times are wall-clock epoch seconds (``time.time()``), comparable
    with the records' ``finished_at`` on this machine."""

    first_submit: float = 0.0
    last_accepted: float = 0.0
    waited: float = 0.0
    ids: list[str] = field(default_factory=list)
    finished_at: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def last_terminal(self) -> float:
        return max(self.finished_at, default=float("nan"))

    @property
    def end_to_end_s(self) -> float:
        """First submit to the last job's ``finished_at``, as the record has it."""
        return self.last_terminal - self.first_submit

    @property
    def submit_s(self) -> float:
        return self.last_accepted - self.first_submit


def run_batch(target: Target, jobs: int, clients: int) -> Batch:
    """``jobs`` small completion jobs submitted by ``clients`` concurrent clients, then
    waited for until terminal."""
    batch = Batch()
    asyncio.run(_submit(target, jobs, clients, batch))
    asyncio.run(_wait(target, clients, batch))
    batch.waited = time.time()
    return batch


def _clients(target: Target, count: int) -> Iterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    tls = ssl.create_default_context()  # shared: one per client costs ~30 ms of CPU each
    for _ in range(count):
        yield httpx.AsyncClient(
            base_url=target.api_url, headers=target.auth, limits=limits, timeout=120, verify=tls
        )


async def _submit(target: Target, jobs: int, clients: int, batch: Batch) -> None:
    remaining = iter(range(jobs))

    async def one_client(client: httpx.AsyncClient) -> None:
        async with client:
            for _ in remaining:  # shared: the clients take turns on one counter
                if not batch.first_submit:
                    batch.first_submit = time.time()
                try:
                    response = await client.post("/v1/jobs", json=SMALL_JOB)
                except httpx.HTTPError as exc:
                    batch.errors[f"submit {type(exc).__name__}"] += 1
                    continue
                if response.status_code != 202:
                    batch.errors[f"submit {response.status_code}"] += 1
                    continue
                batch.ids.append(response.json()["id"])
                batch.last_accepted = time.time()

    await asyncio.gather(*(one_client(c) for c in _clients(target, clients)))


async def _wait(target: Target, clients: int, batch: Batch) -> None:
    remaining = iter(list(batch.ids))

    async def one_client(client: httpx.AsyncClient) -> None:
        async with client:
            for job_id in remaining:
                job = await _wait_one(client, job_id, batch)
                if job is not None:
                    batch.outcomes[str(job["status"])] += 1
                    batch.finished_at.append(_epoch(job["finished_at"]))

    await asyncio.gather(*(one_client(c) for c in _clients(target, clients)))


async def _wait_one(client: httpx.AsyncClient, job_id: str, batch: Batch) -> dict[str, Any] | None:
    """The terminal record, or None (counted as an error) if it is not terminal in time."""
    deadline = time.monotonic() + 5 * WAIT_S
    while time.monotonic() < deadline:
        try:
            response = await client.get(f"/v1/jobs/{job_id}/wait", params={"timeout": WAIT_S})
        except httpx.HTTPError as exc:
            batch.errors[f"wait {type(exc).__name__}"] += 1
            return None
        if response.status_code == 200:
            job: dict[str, Any] = response.json()
            return job
        if response.status_code != 202:
            batch.errors[f"wait {response.status_code}"] += 1
            return None
    batch.errors["not terminal in time"] += 1
    return None


def _epoch(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()
