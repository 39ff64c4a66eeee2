"""What the batch bench sends and reads back: generated Markdown documents, one
``POST /v1/batches``, the batch and the instance's capacity sampled until the batch ends,
and its JSONL results.

The documents' titles use the words of the stand-in's corpus (``emulator/downstream_content``):
the enhancer persona searches with a document's first heading, so every search hits.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson
from stack import Target

# (title, the section headings to draw from): each title shares words with corpus chunks.
TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Rate limits and concurrency limits", ("Per-instance limits", "Backlogs", "Tuning")),
    ("Jobs stored in Redis and run by workers", ("Queues", "Claiming a job", "Results")),
    ("Tool loops and tool results", ("Tool calls", "Sending results back", "Limits")),
    ("Semantic search over corpus chunks", ("Queries", "Ranking by relevance", "Chunks")),
    ("When Redis is unreachable", ("Symptoms", "What the API answers", "Recovery")),
    ("The provider circuit breaker", ("Opening", "Probing", "Closing again")),
    ("Signed webhooks and their retries", ("Signatures", "Backoff", "Dead deliveries")),
    ("The model router and provider instances", ("Exact names", "Patterns", "Fallbacks")),
    ("Provider credentials in the gateway", ("Sources", "Rotation", "Auditing")),
    ("The job runner and its results", ("Claims", "Leases", "Recording a result")),
)
SENTENCES = (
    "Each step is recorded so an operator can follow what happened and why.",
    "The numbers below come from the staging environment and are indicative only.",
    "Teams should agree on the defaults before they change them in production.",
    "A short checklist at the end of the section lists what to verify after a change.",
    "Most problems show up first as a rising queue depth on the dashboard.",
    "Nothing here requires a restart; the settings are read again within a minute.",
    "The examples use the staging tenant and a throwaway API key.",
    "When in doubt, prefer the conservative value and measure before raising it.",
)
POLL_S = 0.5


def documents(count: int, seed: int = 7) -> list[dict[str, str]]:
    """``count`` Markdown documents: a title, an introduction and three sections, with
    topics and sentences varied by a fixed seed (so every run sends the same batch)."""
    rng = random.Random(seed)
    docs = []
    for i in range(count):
        title, sections = TOPICS[i % len(TOPICS)]
        lines = [f"# {title}", "", " ".join(rng.sample(SENTENCES, 2)), ""]
        for heading in sections:
            lines += [f"## {heading}", "", " ".join(rng.sample(SENTENCES, 3)), ""]
        docs.append({"custom_id": f"doc-{i + 1:04d}.md", "text": "\n".join(lines)})
    return docs


@dataclass(slots=True)
class BatchRun:
    """What the bench saw of one batch: its timeline, its final state and its results."""

    batch_id: str
    submitted_at: float  # epoch seconds, just before the POST
    accepted_s: float  # the POST's duration
    samples: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    timed_out: bool = False

    @property
    def wall_s(self) -> float:
        """Submission to the batch's end, by the gateway's own ``completed_at``; the last
        sample's time when the batch did not end."""
        ended = self.final.get("completed_at") or self.final.get("cancelled_at")
        if ended:
            return _epoch(ended) - self.submitted_at
        return self.samples[-1]["t"] if self.samples else 0.0


def run_batch(target: Target, instance: str, body: dict[str, Any], budget_s: float) -> BatchRun:
    """Submit ``body`` to ``POST /v1/batches``; sample the batch and ``instance``'s capacity
    every 0.5 s until the batch ends or ``budget_s`` passes; then read its results."""
    with httpx.Client(base_url=target.api_url, headers=target.auth, timeout=120) as client:
        submitted = time.time()
        response = client.post("/v1/batches", json=body)
        accepted = time.time() - submitted
        if response.status_code != 202:
            raise RuntimeError(f"POST /v1/batches: {response.status_code} {response.text[:500]}")
        run = BatchRun(response.json()["id"], submitted, accepted)
        while True:
            batch = client.get(f"/v1/batches/{run.batch_id}").raise_for_status().json()
            run.samples.append(_sample(client, instance, batch, time.time() - submitted))
            run.final = batch
            if batch["status"] in ("completed", "cancelled"):
                break
            if time.time() - submitted > budget_s:
                run.timed_out = True
                break
            time.sleep(POLL_S)
        run.results = read_results(client, run.batch_id)
    return run


def _sample(client: httpx.Client, instance: str, batch: dict[str, Any], t: float) -> dict[str, Any]:
    """One point of the timeline: the batch's counts and the instance's capacity use."""
    providers = client.get("/v1/providers").raise_for_status().json()["data"]
    mine = next(p for p in providers if p["name"] == instance)
    counts = batch["request_counts"]
    return {
        "t": round(t, 3),
        "at": time.time(),
        **{k: counts[k] for k in ("queued", "running", "succeeded", "failed")},
        "in_flight": mine["in_flight"],
        "waiting": mine["waiting_for_capacity"],
        "queue_depth": mine["queue_depth"],
        "requests_last_minute": mine["usage"]["requests_last_minute"],
    }


def read_results(client: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    """``GET /v1/batches/{id}/results``: one JSON object per line, in submission order."""
    with client.stream("GET", f"/v1/batches/{batch_id}/results") as response:
        response.raise_for_status()
        return [orjson.loads(line) for line in response.iter_lines() if line.strip()]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
