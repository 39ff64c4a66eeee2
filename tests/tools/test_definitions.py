"""The tool definitions file: the shipped built-ins, HTTP and Python entries, custom
services, and a clear start-up error for every kind of mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.errors import ToolUnavailable
from gateway.settings import DEFAULT_TOOLS_FILE, Settings
from tools.definitions import load_tools
from tools.http_tools import HttpTool
from tools.toolbox import build_tool_registry, service_urls

SERVICES = {"semantic_search": "http://search.test", "ai_agents": "http://agents.test"}
OBJECT = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
BUILT_INS = [
    "analyze_architecture",
    "generate_documentation",
    "get_chunk",
    "review_code",
    "search_corpus",
]


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "tools.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def http_entry(name: str = "t", **http: Any) -> dict[str, Any]:
    route = {"service": "semantic_search", "method": "POST", "path": "/v1/search", **http}
    return {"name": name, "description": "A tool.", "parameters": OBJECT, "http": route}


def test_shipped_file_defines_the_five_built_ins_with_strict_schemas() -> None:
    registry = load_tools(DEFAULT_TOOLS_FILE, SERVICES, None)
    assert registry.names() == BUILT_INS
    for definition in registry.definitions():
        schema = definition["parameters"]
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        assert schema["required"]
        assert all(p.get("description") for p in schema["properties"].values())
    top_k = registry.definition("search_corpus")["parameters"]["properties"]["top_k"]
    assert (top_k["type"], top_k["minimum"], top_k["maximum"]) == ("integer", 1, 50)
    services = {d["name"]: d["service"] for d in registry.definitions()}
    assert services["get_chunk"] == "semantic_search"
    assert services["review_code"] == "ai_agents"


def test_shipped_routes_match_the_services_contract() -> None:
    registry = load_tools(DEFAULT_TOOLS_FILE, SERVICES, None)
    routes = {}
    for shipped in registry.tools():
        assert isinstance(shipped.runner, HttpTool)
        route = shipped.runner.route
        routes[shipped.name] = (route.base_url, route.method, route.path, route.body)
    assert routes == {
        "search_corpus": ("http://search.test", "POST", "/v1/search", "arguments"),
        "get_chunk": ("http://search.test", "GET", "/v1/chunks/{chunk_id}", "arguments"),
        "review_code": ("http://agents.test", "POST", "/v1/agents/code-review/run", "input"),
        "analyze_architecture": (
            "http://agents.test",
            "POST",
            "/v1/agents/architecture/run",
            "input",
        ),
        "generate_documentation": (
            "http://agents.test",
            "POST",
            "/v1/agents/doc-generate/run",
            "input",
        ),
    }


def test_registry_from_settings_needs_no_redis_and_cannot_run_http_tools() -> None:
    settings = Settings(semantic_search_url="http://search.test")
    registry = build_tool_registry(settings)
    assert registry.names() == BUILT_INS
    assert service_urls(settings)["semantic_search"] == "http://search.test"
    with pytest.raises(ToolUnavailable, match="not set up in this process"):
        registry.get("get_chunk").runner({"chunk_id": "chunk-001"})


def test_no_tools_file_means_no_tools() -> None:
    assert build_tool_registry(Settings(tools_file=None)).names() == []


def test_python_tools_and_custom_services_load(tmp_path: Path) -> None:
    add_schema = {
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"],
    }
    document = {
        "services": {"billing": {"url": "http://billing.test:9000/api"}},
        "tools": [
            {
                "name": "add",
                "description": "Adds.",
                "parameters": add_schema,
                "python": "tests.tools.sample_tools:add",
                "timeout_seconds": 2,
            },
            http_entry("invoice", service="billing", path="/invoices"),
        ],
    }
    registry = load_tools(write(tmp_path, document), SERVICES, None)
    added = registry.get("add")
    assert (added.runner({"a": 2, "b": 3}), added.timeout_seconds, added.service) == (5, 2, None)
    invoice = registry.get("invoice")
    assert isinstance(invoice.runner, HttpTool)
    assert invoice.runner.route.url({"q": "x"}) == (
        "http://billing.test:9000/api/invoices",
        {"q": "x"},
    )
    assert invoice.service == "billing"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "expected a mapping with a 'tools' list"),
        ({"tools": {}}, "'tools' must be a list of tool definitions"),
        ({"tools": [], "extras": 1}, "unknown top-level key 'extras'"),
        ({"tools": ["x"]}, "tools[0] must be a mapping"),
        ({"tools": [{"description": "d"}]}, "tools[0] needs a name"),
        ({"tools": [http_entry(), http_entry()]}, "tool 't' is already registered"),
        (
            {"tools": [{**http_entry(), "python": "tests.tools.sample_tools:add"}]},
            "tool 't': needs exactly one of 'http' and 'python'",
        ),
        (
            {"tools": [{k: v for k, v in http_entry().items() if k != "http"}]},
            "tool 't': needs exactly one of 'http' and 'python'",
        ),
        (
            {"tools": [http_entry(service="nowhere")]},
            "tool 't': unknown service 'nowhere' (known: ai_agents, semantic_search)",
        ),
        ({"tools": [http_entry(method="DELETE")]}, "http.method must be one of GET, POST"),
        ({"tools": [http_entry(path="v1/search")]}, "http.path must be a path starting with '/'"),
        ({"tools": [http_entry(body="form")]}, "http.body must be one of arguments, input"),
        ({"tools": [http_entry(verb="GET")]}, "tool 't': unknown http key 'verb'"),
        (
            {"tools": [http_entry(path="/v1/chunks/{chunk_id}")]},
            "placeholder {chunk_id} must be a required parameter",
        ),
        ({"tools": [http_entry(path="/v1/{")]}, "has a malformed placeholder"),
        (
            {"tools": [{**http_entry(), "parameters": {"type": "object", "required": 3}}]},
            "tool 't': invalid parameters schema at required",
        ),
        ({"tools": [{**http_entry(), "parameters": None}]}, "tool 't': needs parameters"),
        ({"tools": [{**http_entry(), "description": ""}]}, "tool 't': needs a description"),
        ({"tools": [{**http_entry(), "timeout_seconds": 0}]}, "must be a positive number"),
        ({"tools": [{**http_entry(), "retries": 2}]}, "tool 't': unknown key 'retries'"),
        (
            {"tools": [{**http_entry(), "http": None, "python": "no_colon"}]},
            "needs exactly one of",
        ),
        (
            {"tools": [{"name": "p", "description": "d", "parameters": OBJECT, "python": "x"}]},
            "tool 'p': python must be 'package.module:function'",
        ),
        (
            {
                "tools": [
                    {"name": "p", "description": "d", "parameters": OBJECT, "python": "no.such:f"}
                ]
            },
            "tool 'p': cannot import 'no.such'",
        ),
        (
            {
                "tools": [
                    {
                        "name": "p",
                        "description": "d",
                        "parameters": OBJECT,
                        "python": "tests.tools.sample_tools:NOT_CALLABLE",
                    }
                ]
            },
            "'tests.tools.sample_tools:NOT_CALLABLE' is not a callable",
        ),
        (
            {"services": {"semantic_search": {"url": "http://x"}}, "tools": []},
            "service 'semantic_search' is built in; its URL comes from the settings",
        ),
        (
            {"services": {"billing": {"url": "ftp://billing"}}, "tools": []},
            "service 'billing' needs url: an http(s) URL",
        ),
    ],
)
def test_mistakes_are_refused_with_a_clear_message(
    tmp_path: Path, document: object, message: str
) -> None:
    path = write(tmp_path, document)
    with pytest.raises(ValueError) as caught:
        load_tools(path, SERVICES, None)
    text = str(caught.value)
    assert text.startswith(f"{path}: ")
    assert message in text


def test_missing_file_and_bad_yaml_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read tool definitions"):
        load_tools(tmp_path / "absent.yaml", SERVICES, None)
    broken = tmp_path / "broken.yaml"
    broken.write_text("tools:\n  - name: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML at line"):
        load_tools(broken, SERVICES, None)
