"""The Grafana dashboard and the Prometheus rules: every PromQL expression parses, and every
metric it names is one the code exports (names collected from the metric registries the
API and the workers serve), so neither can rot when a metric is renamed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from api.cluster_metrics import ClusterMetrics
from api.metrics import ApiMetrics
from providers.config import load_providers
from tasks.loops.call_metrics import CallMetrics

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = REPO_ROOT / "deploy" / "dashboards" / "llm-gateway.json"
RULES = REPO_ROOT / "deploy" / "alerts" / "llm-gateway-rules.yaml"
# The sample names each metric type exposes beside (or instead of) its family's name.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}
ALERTS = {
    "HighErrorRate",
    "SlowResponseTime",
    "ProviderDown",
    "BacklogGrowing",
    "CircuitOpen",
    "LimiterSaturated",
    "WebhookDeadLetters",
}


def exported_names() -> set[str]:
    """Every series name the API's ``/metrics`` and a worker's metrics port can show."""
    providers = load_providers(REPO_ROOT / "config" / "providers.yaml")
    # The client is never used: describing the cluster collector reads nothing.
    cluster = ClusterMetrics(Redis(), providers.instances.values(), heartbeat_seconds=5)
    registries: list[CollectorRegistry] = [ApiMetrics(cluster).registry, CallMetrics().registry]
    names: set[str] = set()
    for registry in registries:
        for collector in list(registry._collector_to_names):
            describe = getattr(collector, "describe", None)
            families = list(describe()) if describe is not None else list(collector.collect())
            for family in families:
                names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r}", target["expr"]


def rule_exprs() -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            yield f"rule {rule.get('alert') or rule.get('record')}", rule["expr"]


ALL_EXPRS = [*dashboard_exprs(), *rule_exprs()]


def selected_metrics(node: Any) -> Iterator[str]:
    """The metric names an expression's selectors name."""
    if isinstance(node, promql_parser.VectorSelector):
        if node.name:
            yield node.name
        return
    if isinstance(node, promql_parser.MatrixSelector):
        yield from selected_metrics(node.vector_selector)
    elif isinstance(node, promql_parser.BinaryExpr):
        yield from selected_metrics(node.lhs)
        yield from selected_metrics(node.rhs)
    elif isinstance(node, promql_parser.Call):
        for arg in node.args:
            yield from selected_metrics(arg)
    elif isinstance(
        node,
        promql_parser.AggregateExpr
        | promql_parser.ParenExpr
        | promql_parser.UnaryExpr
        | promql_parser.SubqueryExpr,
    ):
        yield from selected_metrics(node.expr)


def test_the_rules_name_every_alert_the_issue_asks_for() -> None:
    assert {where.removeprefix("rule ") for where, _ in rule_exprs()} == ALERTS


def test_the_dashboard_has_panels_with_queries() -> None:
    assert len(list(dashboard_exprs())) >= 15


@pytest.mark.parametrize(("where", "expr"), ALL_EXPRS, ids=[where for where, _ in ALL_EXPRS])
def test_every_expression_parses_and_names_exported_metrics_only(where: str, expr: str) -> None:
    ast = promql_parser.parse(expr)
    names = set(selected_metrics(ast))
    assert names, f"{where}: no metric selected"
    unknown = names - exported_names()
    assert not unknown, f"{where} names metrics the code does not export: {sorted(unknown)}"


def test_a_renamed_metric_would_be_caught() -> None:
    # The cross-check itself can fail: a misspelt name is not among the exported ones.
    misspelt = "llm_gateway_provider_call_second_count"
    ast = promql_parser.parse(f"rate({misspelt}[5m])")
    assert set(selected_metrics(ast)) - exported_names() == {misspelt}


def test_a_malformed_expression_does_not_parse() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse("sum by (instance (llm_gateway_backlog)")
