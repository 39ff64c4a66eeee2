"""HTTP tools against the downstream stand-in over real HTTP: each built-in end to end,
what reaches the service (path quoting, body shapes, query strings)."""

from __future__ import annotations

import pytest

from emulator.downstream import DownstreamControl
from gateway.errors import InvalidToolArguments, ToolFailed
from tests.tools.stand_in import DownstreamServer
from tools.downstream import DownstreamClient
from tools.http_tools import HttpRoute, HttpTool
from tools.registry import ToolRegistry


def run(registry: ToolRegistry, name: str, arguments: dict[str, object]) -> object:
    return registry.get(name).runner(registry.validate(name, arguments))


def test_search_corpus_posts_the_arguments_and_returns_ranked_chunks(
    registry: ToolRegistry, downstream: DownstreamControl
) -> None:
    answer = run(registry, "search_corpus", {"query": "circuit breaker provider", "top_k": 2})
    assert isinstance(answer, dict)
    results = answer["results"]
    assert [r["chunk_id"] for r in results] == ["chunk-007", "chunk-001"]
    assert set(results[0]) == {"chunk_id", "score", "text", "collection", "source"}
    assert results[0]["score"] == 1.0
    [request] = downstream.requests()
    assert (request["method"], request["path"]) == ("POST", "/v1/search")
    assert request["body"] == {"query": "circuit breaker provider", "top_k": 2}


def test_search_corpus_filters_by_collection(
    registry: ToolRegistry, downstream: DownstreamControl
) -> None:
    answer = run(registry, "search_corpus", {"query": "redis", "collection": "runbooks"})
    assert isinstance(answer, dict)
    assert {r["collection"] for r in answer["results"]} == {"runbooks"}
    assert [r["chunk_id"] for r in answer["results"]] == ["chunk-006"]


def test_get_chunk_fills_the_path_and_sends_no_body(
    registry: ToolRegistry, downstream: DownstreamControl
) -> None:
    answer = run(registry, "get_chunk", {"chunk_id": "chunk-003"})
    assert isinstance(answer, dict)
    assert answer["chunk_id"] == "chunk-003"
    assert answer["source"] == "docs/limits.md"
    [request] = downstream.requests()
    assert (request["method"], request["path"], request["body"]) == (
        "GET",
        "/v1/chunks/chunk-003",
        None,
    )


def test_unknown_chunk_is_a_tool_error_carrying_the_service_message(
    registry: ToolRegistry, downstream: DownstreamControl
) -> None:
    with pytest.raises(ToolFailed) as caught:
        run(registry, "get_chunk", {"chunk_id": "chunk-999"})
    assert caught.value.to_dict() == {
        "type": "tool_error",
        "message": "semantic_search answered 404: chunk not found",
        "param": None,
    }


def test_path_arguments_are_url_quoted(
    registry: ToolRegistry, downstream: DownstreamControl
) -> None:
    with pytest.raises(ToolFailed, match="chunk not found"):
        run(registry, "get_chunk", {"chunk_id": "../admin?x=1#frag %/é"})
    [request] = downstream.requests()
    # One path segment: nothing in the id can climb, add a query or cut the URL short.
    assert request["path"] == "/v1/chunks/..%2Fadmin%3Fx%3D1%23frag%20%25%2F%C3%A9"
    assert request["query"] == ""


@pytest.mark.parametrize(
    ("tool", "agent", "arguments"),
    [
        ("review_code", "code-review", {"code": "x = eval(s)\nprint(x)\n", "language": "python"}),
        ("analyze_architecture", "architecture", {"code": "import os\nclass A: ...\n"}),
        ("generate_documentation", "doc-generate", {"code": "def f(): ...", "format": "rst"}),
    ],
)
def test_agent_tools_wrap_their_arguments_as_input(
    registry: ToolRegistry,
    downstream: DownstreamControl,
    tool: str,
    agent: str,
    arguments: dict[str, object],
) -> None:
    answer = run(registry, tool, arguments)
    assert isinstance(answer, dict)
    assert answer["agent"] == agent
    [request] = downstream.requests()
    assert (request["method"], request["path"]) == ("POST", f"/v1/agents/{agent}/run")
    assert request["body"] == {"input": arguments}


def test_agent_outputs_are_derived_from_the_input(
    registry: ToolRegistry, downstream: DownstreamControl
) -> None:
    review = run(registry, "review_code", {"code": "x = eval(s)\nprint(x)  # TODO\n"})
    assert isinstance(review, dict)
    findings = review["output"]["findings"]
    assert [(f["line"], f["severity"]) for f in findings] == [
        (1, "error"),
        (2, "info"),
        (2, "warning"),
    ]
    design = run(registry, "analyze_architecture", {"code": "import os\nclass A: ...\n"})
    assert isinstance(design, dict)
    assert design["output"]["components"] == ["A"]
    assert design["output"]["dependencies"] == ["os"]
    docs = run(registry, "generate_documentation", {"code": "def f(): ...", "format": "markdown"})
    assert isinstance(docs, dict)
    assert docs["output"]["documentation"] == "# API\n\n- `f` (def)\n"


def test_get_tools_send_remaining_arguments_as_the_query(
    http: DownstreamClient, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    route = HttpRoute("semantic_search", downstream_server.url, "GET", "/v1/chunks/{chunk_id}")
    runner = HttpTool(route, http)
    answer = runner({"chunk_id": "chunk-001", "fields": "text", "limit": 2, "flags": [1, 2]})
    assert isinstance(answer, dict)
    assert answer["chunk_id"] == "chunk-001"
    [request] = downstream.requests()
    assert request["path"] == "/v1/chunks/chunk-001"
    assert request["query"] == "fields=text&limit=2&flags=%5B1%2C2%5D"


def test_placeholder_arguments_are_not_repeated_in_the_body(
    http: DownstreamClient, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    route = HttpRoute(
        "ai_agents", downstream_server.url, "POST", "/v1/agents/{agent}/run", body="input"
    )
    answer = HttpTool(route, http)({"agent": "doc-generate", "code": "class B: ..."})
    assert isinstance(answer, dict)
    assert answer["output"]["documented"] == 1
    [request] = downstream.requests()
    assert request["body"] == {"input": {"code": "class B: ..."}}


def test_unknown_agent_is_a_tool_error(
    http: DownstreamClient, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    route = HttpRoute(
        "ai_agents", downstream_server.url, "POST", "/v1/agents/poetry/run", body="input"
    )
    with pytest.raises(ToolFailed, match="ai_agents answered 404: agent not found"):
        HttpTool(route, http)({"code": "x"})


@pytest.mark.parametrize("segment", ["..", ".", ""])
def test_path_arguments_that_would_walk_the_path_are_invalid(segment: str) -> None:
    route = HttpRoute("semantic_search", "http://x", "GET", "/v1/chunks/{chunk_id}")
    with pytest.raises(InvalidToolArguments) as caught:
        route.url({"chunk_id": segment})
    assert caught.value.param == "arguments.chunk_id"
