"""``ToolRegistry``: registration rules, lookup, argument validation and the public listing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from gateway.errors import InvalidToolArguments, ToolNotFound
from tools.registry import Tool, ToolRegistry, tool

SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1},
        "top_k": {"type": "integer", "minimum": 1, "maximum": 50},
        "filters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}},
                "required": ["field"],
            },
        },
        "mode": {"enum": ["fast", "exact"]},
    },
    "required": ["query"],
    "additionalProperties": False,
}


def echo(arguments: Mapping[str, Any]) -> Any:
    return dict(arguments)


def search_tool(name: str = "search", schema: Mapping[str, Any] = SEARCH_SCHEMA) -> Tool:
    return Tool(name, "Search things.", schema, echo, service="semantic_search")


@pytest.fixture
def registry() -> ToolRegistry:
    registry = ToolRegistry()
    registry.register(search_tool())
    return registry


def test_registered_tool_is_found_by_name(registry: ToolRegistry) -> None:
    assert registry.get("search").name == "search"
    assert "search" in registry
    assert "other" not in registry
    assert registry.names() == ["search"]


def test_unknown_tool_is_404_naming_it(registry: ToolRegistry) -> None:
    with pytest.raises(ToolNotFound) as caught:
        registry.get("nope")
    assert caught.value.status_code == 404
    assert caught.value.to_dict() == {
        "type": "tool_not_found",
        "message": "no such tool 'nope'",
        "param": "name",
    }


def test_duplicate_name_is_refused(registry: ToolRegistry) -> None:
    with pytest.raises(ValueError, match="'search' is already registered"):
        registry.register(search_tool())


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "object", "properties": {"a": {"type": "strnig"}}}, "at properties/a/type"),
        ({"type": "object", "required": "query"}, "at required"),
        ({"type": "object", "properties": {"n": {"minimum": "one"}}}, "at properties/n/minimum"),
    ],
)
def test_invalid_schema_is_refused_naming_the_tool(schema: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match="tool 'broken': invalid parameters schema") as caught:
        ToolRegistry().register(search_tool("broken", schema))
    assert expected in str(caught.value)


def test_schema_must_describe_an_object() -> None:
    with pytest.raises(ValueError, match="must be a schema of type 'object'"):
        ToolRegistry().register(search_tool("listy", {"type": "array"}))


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dots.not.allowed"])
def test_names_models_cannot_call_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="must match"):
        ToolRegistry().register(search_tool(name))


def test_tools_are_listed_sorted_with_their_public_definition() -> None:
    registry = ToolRegistry()
    for name in ("zeta", "alpha", "mid"):
        registry.register(search_tool(name))
    assert [t.name for t in registry.tools()] == ["alpha", "mid", "zeta"]
    listing = registry.definitions()
    assert [d["name"] for d in listing] == ["alpha", "mid", "zeta"]
    assert listing[0] == {
        "name": "alpha",
        "description": "Search things.",
        "parameters": SEARCH_SCHEMA,
        "service": "semantic_search",
    }
    # The listing is a copy: changing it does not change the tool.
    listing[0]["parameters"]["properties"]["query"]["type"] = "integer"
    assert registry.definition("alpha")["parameters"]["properties"]["query"]["type"] == "string"


def test_valid_arguments_come_back_as_a_new_dict(registry: ToolRegistry) -> None:
    arguments = {"query": "redis", "top_k": 3, "filters": [{"field": "docs"}], "mode": "fast"}
    checked = registry.validate("search", arguments)
    assert checked == arguments
    assert checked is not arguments


@pytest.mark.parametrize(
    ("arguments", "message", "param"),
    [
        (
            {"query": "q", "top_k": "x"},
            "arguments.top_k: 'x' is not of type 'integer'",
            "arguments.top_k",
        ),
        (
            {"query": "q", "top_k": 51},
            "arguments.top_k: 51 is greater than the maximum of 50",
            "arguments.top_k",
        ),
        ({"top_k": 3}, "arguments: 'query' is a required property", "arguments.query"),
        (
            {"query": "q", "extra": 1},
            "arguments: Additional properties are not allowed ('extra' was unexpected)",
            "arguments",
        ),
        (
            {"query": "q", "filters": [{"field": "a"}, {"field": 7}]},
            "arguments.filters[1].field: 7 is not of type 'string'",
            "arguments.filters[1].field",
        ),
        (
            {"query": "q", "filters": [{}]},
            "arguments.filters[0]: 'field' is a required property",
            "arguments.filters[0].field",
        ),
        (
            {"query": "q", "mode": "slow"},
            "arguments.mode: 'slow' is not one of ['fast', 'exact']",
            "arguments.mode",
        ),
        ({"query": ""}, "arguments.query: '' should be non-empty", "arguments.query"),
    ],
)
def test_invalid_arguments_name_the_problem_and_its_path(
    registry: ToolRegistry, arguments: dict[str, Any], message: str, param: str
) -> None:
    with pytest.raises(InvalidToolArguments) as caught:
        registry.validate("search", arguments)
    assert caught.value.status_code == 422
    assert caught.value.to_dict() == {
        "type": "invalid_tool_arguments",
        "message": message,
        "param": param,
    }


@pytest.mark.parametrize(
    ("arguments", "kind"),
    [([1, 2], "an array"), ("{}", "a string"), (None, "null"), (3, "a number")],
)
def test_arguments_that_are_not_an_object_are_refused(
    registry: ToolRegistry, arguments: object, kind: str
) -> None:
    with pytest.raises(InvalidToolArguments) as caught:
        registry.validate("search", arguments)
    assert caught.value.message == f"arguments: must be a JSON object, not {kind}"
    assert caught.value.param == "arguments"


def test_validating_for_an_unknown_tool_is_404(registry: ToolRegistry) -> None:
    with pytest.raises(ToolNotFound, match="nope"):
        registry.validate("nope", {})


def test_huge_offending_values_are_cut_from_the_message(registry: ToolRegistry) -> None:
    with pytest.raises(InvalidToolArguments) as caught:
        registry.validate("search", {"query": 5, "top_k": "x" * 10_000})
    assert len(caught.value.message) <= 330


def word_count(text: str, unique: bool = False) -> int:
    """Count the words of a text.

    Longer explanation that is not part of the description.
    """
    words = text.split()
    return len(set(words)) if unique else len(words)


def test_tool_helper_wraps_a_plain_function_called_with_keywords() -> None:
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    made = tool(word_count, parameters=schema, timeout_seconds=2)
    assert (made.name, made.description) == ("word_count", "Count the words of a text.")
    assert made.timeout_seconds == 2
    assert made.runner({"text": "a b a", "unique": True}) == 2
    renamed = tool(word_count, parameters=schema, name="count", description="Counts.")
    assert (renamed.name, renamed.description) == ("count", "Counts.")
