"""``GET /v1/usage`` and the cluster-wide usage counters of ``/metrics``, through the real
stack: every job kind's paid replies end up, exactly, in the tenant's usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from emulator import EmulatorControl, directive
from tests.support.processes import Stack

SEARCH = {"name": "search_corpus", "arguments": {"query": "usage", "top_k": 1}}
GATEWAY_TOOLS = [{"type": "function", "function": {"name": "search_corpus"}}]


def chat(text: str, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def submit(client: httpx.Client, request: dict[str, Any]) -> str:
    response = client.post("/v1/jobs", json={"type": "completion", "request": request})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def wait_terminal(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}/wait", params={"timeout": 30})
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    assert job["status"] in ("succeeded", "failed"), job
    return job


def usage_metrics(stack: Stack, tenant: str) -> dict[str, dict[tuple[str, ...], float]]:
    """``/metrics``' usage counters for ``tenant``: name → label values → value."""
    text = httpx.get(f"{stack.api_url}/metrics").text
    out: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("tenant") != tenant or not sample.name.endswith("_total"):
                continue
            labels = tuple(v for k, v in sorted(sample.labels.items()) if k != "tenant")
            out.setdefault(sample.name, {})[labels] = sample.value
    return out


def paid(job: dict[str, Any]) -> tuple[int, int, float]:
    """What a job record says was paid for: its usage plus its orphaned usage."""
    total = [0, 0, 0.0]
    for part in (job["usage"] or {}, job["orphaned_usage"] or {}):
        total[0] += int(part.get("prompt_tokens") or 0)
        total[1] += int(part.get("completion_tokens") or 0)
    total[2] = (job["cost_usd"] or 0.0) + ((job["orphaned_usage"] or {}).get("cost_usd") or 0.0)
    return total[0], total[1], total[2]


def test_after_a_mixed_run_metrics_and_usage_equal_the_sum_over_the_job_records(
    stack: Stack, downstream: Stack, client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    ids: list[str] = []
    # A fallback: the primary answers 503, the secondary serves the job.
    emulator.script({"status": 503})
    response = client_a.post("/v1/chat/completions", json=chat("rescue", "fallback-model"))
    assert response.status_code == 200, response.text
    ids.append(response.headers["x-llm-gateway-job-id"])
    # A chat completion, a streamed one, embeddings.
    response = client_a.post("/v1/chat/completions", json=chat("plain"))
    ids.append(response.headers["x-llm-gateway-job-id"])
    with client_a.stream("POST", "/v1/chat/completions", json=chat("s", stream=True)) as r:
        assert r.status_code == 200
        r.read()
        ids.append(r.headers["x-llm-gateway-job-id"])
    body = {"model": "text-embedding-3-small", "input": ["a", "b c"], "provider": "openai"}
    response = client_a.post("/v1/embeddings", json=body)
    assert response.status_code == 200, response.text
    ids.append(response.headers["x-llm-gateway-job-id"])
    # A tool loop (two paid turns), and a job the provider refuses (nothing paid).
    loop = directive(turns=[{"tool_calls": [SEARCH]}, {"reply": "found"}])
    request = chat(f"look {loop}", tools=GATEWAY_TOOLS)
    ids.append(
        client_a.post("/v1/jobs", json={"type": "completion", "request": request}).json()["id"]
    )
    request = chat(directive(status=400))
    ids.append(
        client_a.post("/v1/jobs", json={"type": "completion", "request": request}).json()["id"]
    )

    jobs = [wait_terminal(client_a, job_id) for job_id in ids]
    assert [j["status"] for j in jobs] == ["succeeded"] * 5 + ["failed"]
    assert jobs[0]["provider"] == "secondary"
    assert jobs[4]["tool_loop"]["iterations"] >= 1
    assert all(j["cost_usd"] is not None for j in jobs[1:5])  # priced: catalogue or override

    metrics = usage_metrics(stack, "tenant_a")
    tokens = metrics["llm_gateway_tokens_total"]
    # Labels (sorted by name): direction, instance, model.
    input_total = sum(v for labels, v in tokens.items() if labels[0] == "input")
    output_total = sum(v for labels, v in tokens.items() if labels[0] == "output")
    cost_total = sum(metrics["llm_gateway_cost_usd_total"].values())
    sums = [paid(j) for j in jobs]
    assert input_total == sum(s[0] for s in sums) > 0
    assert output_total == sum(s[1] for s in sums) > 0
    assert abs(cost_total - sum(s[2] for s in sums)) < 1e-8
    assert cost_total > 0
    # Labels: instance, kind, model, outcome.
    ended = metrics["llm_gateway_jobs_total"]
    assert sum(ended.values()) == len(jobs)
    assert ended[("openai", "completion", "gpt-4o-mini", "failed")] == 1
    assert ended[("secondary", "completion", "fallback-model", "succeeded")] == 1
    assert ended[("openai", "embedding", "text-embedding-3-small", "succeeded")] == 1

    # GET /v1/usage says the same, by model.
    usage = client_a.get("/v1/usage", params={"group_by": "model"}).json()
    assert usage["totals"]["input_tokens"] == input_total
    assert abs(usage["totals"]["cost_usd"] - cost_total) < 1e-8
    # Every paid reply is a request: the tool loop's 2 turns, 1 each for the other 4.
    assert usage["totals"]["requests"] == 6
    assert {g["key"] for g in usage["data"]} == {
        "gpt-4o-mini",
        "text-embedding-3-small",
        "fallback-model",
    }


def test_usage_is_per_tenant_and_grouped_by_day_by_default(
    client_a: httpx.Client, client_b: httpx.Client
) -> None:
    assert client_a.post("/v1/chat/completions", json=chat("mine")).status_code == 200
    today = datetime.now(UTC).date()
    start = (today - timedelta(days=2)).isoformat()
    mine = client_a.get("/v1/usage", params={"start": start}).json()
    assert [g["key"] for g in mine["data"]][-1] == today.isoformat()
    assert len(mine["data"]) == 3 and mine["group_by"] == "day"
    assert mine["totals"]["requests"] == 1 and mine["data"][-1]["requests"] == 1
    assert mine["totals"]["total_tokens"] > 0
    assert mine["limits"] == {
        "rpm": None,
        "tpm": None,
        "daily_budget": None,
        "monthly_budget": None,
    }
    theirs = client_b.get("/v1/usage", params={"group_by": "provider"}).json()
    assert theirs["totals"]["requests"] == 0 and theirs["data"] == []


def test_bad_dates_and_ranges_are_400s_in_the_error_shape(client_a: httpx.Client) -> None:
    for params, param in [
        ({"start": "2026-13-01"}, "start"),
        ({"end": "yesterday"}, "end"),
        ({"start": "2026-1-1"}, "start"),
        ({"start": "2026-03-05", "end": "2026-03-04"}, "end"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "start"),
    ]:
        response = client_a.get("/v1/usage", params=params)
        assert response.status_code == 400, (params, response.text)
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == param
    response = client_a.get("/v1/usage", params={"group_by": "week"})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "group_by"


def test_usage_needs_a_key(stack: Stack) -> None:
    assert httpx.get(f"{stack.api_url}/v1/usage").status_code == 401
