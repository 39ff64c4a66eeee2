"""The demo ``up`` runs once the stack is up: one job of every kind, one completion pinned
to each provider instance, and a table of what came back."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from cli.demo_rag import LABEL as RAG_LABEL
from cli.demo_rag import PROVIDER as RAG_PROVIDER
from cli.demo_rag import RagStepFailed, judged, prepare_rag_job
from cli.origins import Origin
from emulator.directives import directive
from gateway.queues import TOOLS_QUEUE
from providers.config import ProvidersConfig

_SEARCH = {"name": "search_corpus", "arguments": {"query": "retry backoff", "top_k": 2}}


def _completion(model: str, content: str, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": content}]
    return {"type": "completion", "request": {"model": model, "messages": messages, **extra}}


# (what the row shows, the job): a plain completion per provider, a tool loop (the
# emulated model searches the corpus, then answers from the results) and one tool job; then
# (``demo_jobs``) one completion pinned to each other instance of the providers file. Every
# model call is pinned with ``provider``: a failing instance (a real key that does not work)
# must show as failing, not be hidden by a fallback to an emulated one.
DEMO_JOBS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "gpt-4o-mini",
        _completion("gpt-4o-mini", "Hello from the gpt-4o-mini demo", provider="openai"),
    ),
    (
        "claude-sonnet-4-5",
        _completion("claude-sonnet-4-5", "Hello from the Claude demo", provider="anthropic"),
    ),
    (
        "gpt-4o-mini + search_corpus",
        _completion(
            "gpt-4o-mini",
            "How do retries back off? " + directive(turns=[{"tool_calls": [_SEARCH]}, {}]),
            tools=[{"type": "function", "function": {"name": "search_corpus"}}],
            provider="openai",
        ),
    ),
    (
        "tool get_chunk",
        {"type": "tool", "request": {"name": "get_chunk", "arguments": {"chunk_id": "chunk-001"}}},
    ),
    (
        "enhancement (gather, enhance, check, review)",
        {
            "type": "enhancement",
            "request": {
                "model": "gpt-4o-mini",
                "provider": "openai",
                "document": {
                    "name": "limits.md",
                    "text": "# Rate limits\n\nEvery provider has its own limits.\n\n"
                    "## Retries\n\nA 429 is retried after its retry-after.\n",
                },
            },
        },
    ),
)


def demo_jobs(providers: ProvidersConfig) -> list[tuple[str, dict[str, Any]]]:
    """``DEMO_JOBS`` plus one completion per other instance, pinned with ``provider``."""
    jobs = list(DEMO_JOBS)
    for inst in providers.instances.values():
        models = [*inst.models, *inst.model_map]
        if inst.name in ("openai", "anthropic") or not models:
            continue
        body = _completion(models[0], f"Hello from {inst.name}", provider=inst.name)
        jobs.append((f"{inst.name}: {models[0]}", body))
    return jobs


# Generous: the first calls on a loaded small machine are slow (a 12 s first submit has
# been seen on two busy cores), and a slow demo must not look like a broken stack.
SUBMIT_TIMEOUT_SECONDS = 60.0
JOB_TIMEOUT_SECONDS = 180.0
READY_TIMEOUT_SECONDS = 120.0
# The demo waits in short steps, so ``up`` keeps supervising its children meanwhile.
_WAIT_STEP_SECONDS = 2.0


def run_demo(
    base_url: str,
    api_key: str,
    providers: ProvidersConfig,
    origins: Mapping[str, Origin],
    console: Console,
    on_wait: Callable[[], None] = lambda: None,
    rag: bool = False,
) -> int:
    """Run every demo job through the API at ``base_url``, print the table; 1 if any failed.

    ``on_wait`` is called between short waits (``up`` restarts dead children there).
    ``rag`` adds the storage row: upload, presign, ask about the document."""
    jobs = demo_jobs(providers)
    headers = {"Authorization": f"Bearer {api_key}"}
    table = Table(title="demo jobs through the stack")
    for column in ("job", "instance", "origin", "status", "reply", "seconds"):
        table.add_column(column)
    failures = 0
    with httpx.Client(base_url=base_url, headers=headers) as client:
        _wait_for_consumers(client, _queues(jobs, providers), console, on_wait)
        # (label, the instance it is pinned to, how to run it)
        runs: list[tuple[str, str | None, Callable[[], dict[str, Any]]]] = [
            (label, body["request"].get("provider"), partial(_run_job, client, body, on_wait))
            for label, body in jobs
        ]
        if rag:
            runs.append((RAG_LABEL, RAG_PROVIDER, partial(_run_rag, client, on_wait)))
        for label, pinned, run in runs:
            started = time.perf_counter()
            done = run()
            instance = done.get("provider") or pinned
            failures += done["status"] != "succeeded"
            table.add_row(
                label,
                str(instance or "-"),
                origins.get(str(instance), "-"),
                done["status"],
                _reply(done)[:60],
                f"{time.perf_counter() - started:.3f}",
            )
    console.print(table)
    return 1 if failures else 0


def _queues(jobs: list[tuple[str, dict[str, Any]]], providers: ProvidersConfig) -> set[str]:
    """The queues the demo's jobs go to: each pinned instance's, and the tools queue."""
    pinned = {body["request"].get("provider") for _, body in jobs}
    return {inst.queue for inst in providers.instances.values() if inst.name in pinned} | {
        TOOLS_QUEUE
    }


def _wait_for_consumers(
    client: httpx.Client, queues: set[str], console: Console, on_wait: Callable[[], None]
) -> None:
    """Until ``/health/ready`` shows a live consumer on each queue; after the timeout the
    demo runs anyway (its jobs wait in their queues) and says which were missing."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    missing = queues
    while time.monotonic() < deadline:
        try:
            live = client.get("/health/ready", timeout=5).json().get("queues", {})
            missing = {queue for queue in queues if not live.get(queue)}
        except (httpx.HTTPError, ValueError):
            pass
        if not missing:
            return
        on_wait()
        time.sleep(0.5)
    console.print(f"[yellow]no live worker yet for {', '.join(sorted(missing))}[/]")


def _run_job(
    client: httpx.Client, body: dict[str, Any], on_wait: Callable[[], None]
) -> dict[str, Any]:
    """Submit and wait for one job; a transport error or a job that never ends is a
    failed row, not an exception that would stop the stack."""
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    try:
        submitted = client.post("/v1/jobs", json=body, timeout=SUBMIT_TIMEOUT_SECONDS)
        job: dict[str, Any] = submitted.json()
        if submitted.status_code >= 400:
            return {"status": f"rejected ({submitted.status_code})", "error": job.get("error")}
        while not _terminal(job) and time.monotonic() < deadline:
            on_wait()
            job = client.get(
                f"/v1/jobs/{job['id']}/wait",
                params={"timeout": _WAIT_STEP_SECONDS},
                timeout=_WAIT_STEP_SECONDS + SUBMIT_TIMEOUT_SECONDS,
            ).json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"status": "error", "error": {"message": f"{type(exc).__name__}: {exc}"}}
    return job


def _run_rag(client: httpx.Client, on_wait: Callable[[], None]) -> dict[str, Any]:
    """The RAG row: a failed upload or presign is a failed row, like a failed job."""
    try:
        body = prepare_rag_job(client, SUBMIT_TIMEOUT_SECONDS)
    except RagStepFailed as exc:
        return {"status": "failed", "error": {"message": str(exc)}}
    except (httpx.HTTPError, ValueError) as exc:
        return {"status": "error", "error": {"message": f"{type(exc).__name__}: {exc}"}}
    return judged(_run_job(client, body, on_wait))


def _terminal(job: dict[str, Any]) -> bool:
    return job.get("status") in ("succeeded", "failed", "cancelled")


def _reply(done: dict[str, Any]) -> str:
    result = done.get("result") or {}
    return str(
        done.get("display")
        or (result.get("message") or {}).get("content")
        or result.get("output")
        or _enhancement_summary(result)
        or (done.get("error") or {}).get("message", "")
    )


def _enhancement_summary(result: dict[str, Any]) -> str:
    """An enhancement's outcome in a few words: its checks and citations."""
    validation = result.get("validation")
    if not validation:
        return ""
    verdict = "valid" if validation["passed"] else "INVALID"
    return f"{verdict}, {len(result.get('citations', []))} citations"
