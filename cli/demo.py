"""The demo ``up`` runs once the stack is up: one job of every kind, one completion pinned
to each provider instance, and a table of what came back."""

from __future__ import annotations

import time
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from emulator.directives import directive
from providers.config import ProvidersConfig

_SEARCH = {"name": "search_corpus", "arguments": {"query": "retry backoff", "top_k": 2}}


def _completion(model: str, content: str, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": content}]
    return {"type": "completion", "request": {"model": model, "messages": messages, **extra}}


# (what the row shows, the job): a plain completion per provider, a tool loop (the
# emulated model searches the corpus, then answers from the results) and one tool job; then
# (``demo_jobs``) one completion pinned to each other instance of the providers file.
DEMO_JOBS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("gpt-4o-mini", _completion("gpt-4o-mini", "Hello from the gpt-4o-mini demo")),
    ("claude-sonnet-4-5", _completion("claude-sonnet-4-5", "Hello from the Claude demo")),
    (
        "gpt-4o-mini + search_corpus",
        _completion(
            "gpt-4o-mini",
            "How do retries back off? " + directive(turns=[{"tool_calls": [_SEARCH]}, {}]),
            tools=[{"type": "function", "function": {"name": "search_corpus"}}],
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


def run_demo(base_url: str, api_key: str, providers: ProvidersConfig, console: Console) -> int:
    """Run every demo job through the API at ``base_url``, print the table; 1 if any failed."""
    table = Table(title="demo jobs through the stack")
    for column in ("job", "provider", "status", "reply", "seconds"):
        table.add_column(column)
    failures = 0
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers) as client:
        for label, body in demo_jobs(providers):
            started = time.perf_counter()
            job = client.post("/v1/jobs", json=body, timeout=10).json()
            done = client.get(
                f"/v1/jobs/{job['id']}/wait", params={"timeout": 60}, timeout=70
            ).json()
            result = done.get("result") or {}
            reply = (
                (result.get("message") or {}).get("content")
                or result.get("output")
                or _enhancement_summary(result)
                or (done.get("error") or {}).get("message", "")
            )
            failures += done["status"] != "succeeded"
            table.add_row(
                label,
                str(done.get("provider") or "-"),
                done["status"],
                str(reply)[:60],
                f"{time.perf_counter() - started:.3f}",
            )
    console.print(table)
    return 1 if failures else 0


def _enhancement_summary(result: dict[str, Any]) -> str:
    """An enhancement's outcome in a few words: its checks and citations."""
    validation = result.get("validation")
    if not validation:
        return ""
    verdict = "valid" if validation["passed"] else "INVALID"
    return f"{verdict}, {len(result.get('citations', []))} citations"
