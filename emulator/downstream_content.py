"""What the downstream stand-in answers: a small fixed corpus searched by word overlap, and
three "agents" whose outputs are derived from their input by plain rules. Deterministic:
the same request always gets the same answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")
_DEFINITION = re.compile(r"^(class|def|async def|func|function)\s+(\w+)", re.MULTILINE)
_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Chunk:
    chunk_id: str
    collection: str
    source: str
    text: str

    def public(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "collection": self.collection,
            "source": self.source,
            "text": self.text,
        }


# collection | source | text; chunk ids follow the order: chunk-001, chunk-002, ...
_CORPUS_TABLE = """
docs | docs/overview.md | The gateway is the only service holding provider credentials.
docs | docs/overview.md | Jobs are stored in Redis and run by workers, one queue per provider.
docs | docs/limits.md | Rate limits and concurrency limits hold across all workers.
docs | docs/tools.md | Tool loops: the worker runs the model's tool calls and sends results back.
docs | docs/tools.md | Semantic search tools return corpus chunks ranked by relevance to a query.
runbooks | runbooks/redis.md | If Redis is unreachable the API answers 503 until it is back.
runbooks | runbooks/providers.md | A provider answering 5xx opens its circuit breaker for a while.
runbooks | runbooks/webhooks.md | Webhooks are signed and retried with exponential backoff.
code | tasks/jobs/execution.py | The job runner claims a job, runs it and records one result.
code | providers/router.py | The model router picks a provider instance by model name.
code | tools/executor.py | The tool executor runs tool calls concurrently, results in order.
code | api/routes/jobs.py | POST /v1/jobs validates the request and enqueues the job.
"""
CORPUS: tuple[Chunk, ...] = tuple(
    Chunk(f"chunk-{i:03d}", *(part.strip() for part in line.split("|", 2)))
    for i, line in enumerate(_CORPUS_TABLE.strip().splitlines(), start=1)
)
CHUNKS = {chunk.chunk_id: chunk for chunk in CORPUS}


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def search(query: str, top_k: int, collection: str | None) -> list[dict[str, Any]]:
    """Chunks sharing words with the query, by the share of query words they contain."""
    wanted = words(query)
    scored: list[tuple[float, Chunk]] = []
    for chunk in CORPUS:
        if collection is not None and chunk.collection != collection:
            continue
        overlap = len(wanted & words(chunk.text))
        if wanted and overlap:
            scored.append((round(overlap / len(wanted), 4), chunk))
    scored.sort(key=lambda pair: (-pair[0], pair[1].chunk_id))
    return [{**chunk.public(), "score": score} for score, chunk in scored[:top_k]]


def _language(code: str, given: object) -> str:
    if isinstance(given, str) and given:
        return given.lower()
    if re.search(r"^\s*(def|import|from)\s", code, re.MULTILINE):
        return "python"
    if "func " in code or "package " in code:
        return "go"
    return "text"


def review(agent_input: dict[str, Any]) -> dict[str, Any]:
    code = str(agent_input.get("code", ""))
    findings = []
    for number, line in enumerate(code.splitlines(), start=1):
        if len(line) > 100:
            findings.append((number, "style", "line longer than 100 characters"))
        if "TODO" in line:
            findings.append((number, "info", "unresolved TODO"))
        if re.search(r"\bprint\(", line):
            findings.append((number, "warning", "debug print left in code"))
        if re.match(r"\s*except\s*:", line):
            findings.append((number, "error", "bare except hides errors"))
        if re.search(r"\beval\(", line):
            findings.append((number, "error", "eval on untrusted input"))
    language = _language(code, agent_input.get("language"))
    return {
        "language": language,
        "findings": [{"line": n, "severity": s, "message": m} for n, s, m in findings],
        "summary": f"{len(findings)} finding(s) in {len(code.splitlines())} line(s) of {language}",
    }


def architecture(agent_input: dict[str, Any]) -> dict[str, Any]:
    code = str(agent_input.get("code", ""))
    components = sorted({name for _, name in _DEFINITION.findall(code)})
    dependencies = sorted({a or b for a, b in _IMPORT.findall(code)})
    recommendations = []
    if len(components) > 10:
        recommendations.append("split the module: it defines more than 10 components")
    if len(dependencies) > 8:
        recommendations.append("reduce coupling: more than 8 imported modules")
    if not recommendations:
        recommendations.append("no structural problems found")
    return {
        "components": components,
        "dependencies": dependencies,
        "recommendations": recommendations,
        "context": str(agent_input.get("context", "")),
    }


def document(agent_input: dict[str, Any]) -> dict[str, Any]:
    code = str(agent_input.get("code", ""))
    fmt = str(agent_input.get("format") or "markdown")
    names = [(kind, name) for kind, name in _DEFINITION.findall(code)]
    if fmt == "rst":
        lines = ["API", "===", ""] + [f"* ``{name}`` ({kind})" for kind, name in names]
    elif fmt == "docstring":
        lines = ['"""API:', ""] + [f"    {name}: a {kind}." for kind, name in names] + ['"""']
    else:
        lines = ["# API", ""] + [f"- `{name}` ({kind})" for kind, name in names]
    return {"format": fmt, "documentation": "\n".join(lines) + "\n", "documented": len(names)}


AGENTS = {"code-review": review, "architecture": architecture, "doc-generate": document}
