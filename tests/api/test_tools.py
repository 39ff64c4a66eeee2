"""``/v1/tools`` and the ``tool`` job kind through the real stack: listing, synchronous
execution on a worker, and every way a call can be refused or fail."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator.downstream import DownstreamControl
from tests.support.processes import Stack

BUILT_INS = {
    "search_corpus",
    "get_chunk",
    "review_code",
    "analyze_architecture",
    "generate_documentation",
}


def test_tools_are_listed_with_their_json_schemas(client_a: httpx.Client) -> None:
    response = client_a.get("/v1/tools")
    assert response.status_code == 200
    tools = {t["name"]: t for t in response.json()["data"]}
    assert set(tools) >= BUILT_INS
    search = tools["search_corpus"]
    assert search["object"] == "tool"
    assert search["parameters"]["type"] == "object"
    assert "query" in search["parameters"]["required"]
    assert search["description"]
    services = response.json()["services"]
    assert set(services) == {"semantic_search", "ai_agents"}
    assert services["semantic_search"]["state"] == "closed"


def test_listing_tools_needs_an_api_key(stack: Stack) -> None:
    assert httpx.get(f"{stack.api_url}/v1/tools").status_code == 401


def test_execute_runs_the_tool_on_a_worker_and_returns_its_output(
    downstream: Stack, client_a: httpx.Client
) -> None:
    body = {"name": "search_corpus", "arguments": {"query": "llama", "top_k": 2}}
    response = client_a.post("/v1/tools/execute", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["object"] == "tool.result"
    assert result["name"] == "search_corpus"
    assert len(result["output"]["results"]) <= 2
    assert response.headers["x-llm-gateway-job-id"] == result["job_id"]
    job = client_a.get(f"/v1/jobs/{result['job_id']}").json()
    assert job["type"] == "tool"
    assert job["status"] == "succeeded"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "review_code", "arguments": {"code": "def f(): pass", "language": "python"}},
        {"name": "analyze_architecture", "arguments": {"code": "class A: ...", "context": "x"}},
        {
            "name": "generate_documentation",
            "arguments": {"code": "def f(): ...", "format": "markdown"},
        },
    ],
)
def test_agent_tools_call_the_ai_agents_service(
    downstream: Stack, client_a: httpx.Client, body: dict[str, Any]
) -> None:
    response = client_a.post("/v1/tools/execute", json=body)
    assert response.status_code == 200, response.text
    calls = DownstreamControl(downstream.downstream_url).requests("/v1/agents/")
    assert calls[-1]["path"].startswith("/v1/agents/")
    assert calls[-1]["body"]["input"] == body["arguments"]


def test_unknown_tool_is_a_404(client_a: httpx.Client) -> None:
    response = client_a.post("/v1/tools/execute", json={"name": "nope", "arguments": {}})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "tool_not_found"


def test_invalid_arguments_are_a_422_with_the_schema_error(client_a: httpx.Client) -> None:
    body = {"name": "search_corpus", "arguments": {"query": "x", "top_k": "many"}}
    response = client_a.post("/v1/tools/execute", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_tool_arguments"
    assert error["param"] == "arguments.top_k"
    assert "integer" in error["message"]


def test_missing_required_argument_is_a_422(client_a: httpx.Client) -> None:
    response = client_a.post("/v1/tools/execute", json={"name": "get_chunk", "arguments": {}})
    assert response.status_code == 422
    assert "chunk_id" in response.json()["error"]["message"]


def test_a_downstream_4xx_is_a_tool_error_with_its_message(
    downstream: Stack, client_a: httpx.Client
) -> None:
    body = {"name": "get_chunk", "arguments": {"chunk_id": "chunk-does-not-exist"}}
    response = client_a.post("/v1/tools/execute", json=body)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "tool_error"
    assert "not found" in error["message"]


def test_downstream_down_is_a_503_not_a_crash(downstream: Stack, client_a: httpx.Client) -> None:
    downstream.stop_downstream()
    body = {"name": "search_corpus", "arguments": {"query": "llama"}}
    response = client_a.post("/v1/tools/execute", json=body)
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "tool_unavailable"


def test_tool_job_kind_through_the_jobs_endpoint(downstream: Stack, client_a: httpx.Client) -> None:
    request = {"name": "get_chunk", "arguments": {"chunk_id": "chunk-001"}}
    response = client_a.post("/v1/jobs", json={"type": "tool", "request": request})
    assert response.status_code == 202, response.text
    job = client_a.get(f"/v1/jobs/{response.json()['id']}/wait", params={"timeout": 30}).json()
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["output"]["chunk_id"] == "chunk-001"


@pytest.mark.parametrize(
    ("job", "status", "error_type"),
    [
        ({"type": "tool", "request": {"name": "nope"}}, 404, "tool_not_found"),
        (
            {"type": "tool", "request": {"name": "get_chunk", "arguments": {"chunk_id": 7}}},
            422,
            "invalid_tool_arguments",
        ),
        (
            {"type": "tool", "request": {"name": "get_chunk", "arguments": "chunk-001"}},
            422,
            "invalid_tool_arguments",
        ),
        (
            {
                "type": "tool",
                "request": {"name": "get_chunk", "arguments": {"chunk_id": "c"}},
                "session_id": "sess_x",
            },
            400,
            "invalid_request_error",
        ),
    ],
)
def test_bad_tool_jobs_are_refused_before_queueing(
    client_a: httpx.Client, job: dict[str, Any], status: int, error_type: str
) -> None:
    response = client_a.post("/v1/jobs", json=job)
    assert response.status_code == status, response.text
    assert response.json()["error"]["type"] == error_type
