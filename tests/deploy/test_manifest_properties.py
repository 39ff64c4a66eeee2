"""What matters about the rendered manifests of the base and every overlay (dev, staging,
prod), checked on what ``kubectl kustomize`` outputs, the way a cluster would get it:
credentials reach their own worker only, every pod is probed and bounded, the webhooks
worker cannot reach private addresses, every provider worker scales on the backlog metric
of its own instance, and staging and prod pin images by digest and hold no unmarked
example values."""

from __future__ import annotations

import ipaddress
import math
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from gateway.settings import Settings
from tests.deploy.conftest import ProviderInstance
from tests.deploy.rendering import BASE, K8S_ROOT, OVERLAYS, kustomize

TARGETS = [BASE, *OVERLAYS]
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}
PROVIDER_SECRET = "llm-gateway-provider-keys"
INSTANCE_LABEL = "llm-gateway/provider-instance"
BACKLOG_METRIC = "llm_gateway_backlog"
# What the webhooks worker must never reach (SSRF defence in depth).
PRIVATE_RANGES = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
    "fe80::/10",
    "::1/128",
]
# Example values that must not reach staging or prod unmarked (a placeholder says REPLACE).
EXAMPLE_VALUES = re.compile(r"example\.(com|org|net)|123456789012|changeme", re.IGNORECASE)
PINNED_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
THREADS_FLAG = "--concurrency"


def ids(path: Path) -> str:
    return path.name


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS]


def pod(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def name(doc: dict[str, Any]) -> str:
    return str(doc["metadata"]["name"])


def provider_keys(workload: dict[str, Any]) -> set[str]:
    """Keys of the provider-keys Secret a pod reads (envFrom would be every key: '*')."""
    keys = set()
    for container in [*pod(workload).get("initContainers", []), *pod(workload)["containers"]]:
        for source in container.get("envFrom", []):
            if (source.get("secretRef") or {}).get("name") == PROVIDER_SECRET:
                keys.add("*")
        for var in container.get("env", []):
            ref = (var.get("valueFrom") or {}).get("secretKeyRef") or {}
            if ref.get("name") == PROVIDER_SECRET:
                keys.add(ref["key"])
    return keys


@pytest.mark.parametrize("target", TARGETS, ids=ids)
def test_each_worker_gets_only_its_own_instances_credentials(
    target: Path, provider_instances: dict[str, ProviderInstance]
) -> None:
    docs = kustomize(target)
    mounted_by: dict[str, list[str]] = {}
    for workload in workloads(docs):
        instance = workload["metadata"].get("labels", {}).get(INSTANCE_LABEL)
        own = provider_instances[instance] if instance else None
        keys = provider_keys(workload)
        allowed = set(own.secret_env) if own else set()
        assert keys <= allowed, f"{target.name}/{name(workload)} reads {sorted(keys - allowed)}"
        volumes = {v["name"]: v for v in pod(workload).get("volumes", [])}
        for container in pod(workload)["containers"]:
            for mount in container.get("volumeMounts", []):
                secret = (volumes.get(mount["name"], {}).get("secret") or {}).get("secretName")
                if not secret:
                    continue
                mounted_by.setdefault(secret, []).append(name(workload))
                # A key-file Secret sits where its own instance's providers.yaml entry looks.
                assert own is not None, f"{name(workload)} mounts {secret} but is no worker"
                dirs = {str(PurePosixPath(f.path).parent) for f in own.files}
                assert mount["mountPath"] in dirs, f"{name(workload)}: {mount['mountPath']}"
    for secret, readers in mounted_by.items():
        assert len(readers) == 1, f"{target.name}: {secret} is mounted by {readers}"


@pytest.mark.parametrize("target", TARGETS, ids=ids)
def test_every_container_has_cpu_and_memory_limits_and_every_pod_probes(target: Path) -> None:
    for workload in workloads(kustomize(target)):
        spec = pod(workload)
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            limits = container.get("resources", {}).get("limits", {})
            assert {"cpu", "memory"} <= set(limits), f"{name(workload)}/{container['name']}"
            requests = container.get("resources", {}).get("requests", {})
            assert {"cpu", "memory"} <= set(requests), f"{name(workload)}/{container['name']}"
        for container in spec["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in container, f"{target.name}/{name(workload)} has no {probe}"


@pytest.mark.parametrize("target", TARGETS, ids=ids)
def test_no_worker_probe_starts_a_celery_client(target: Path) -> None:
    for workload in workloads(kustomize(target)):
        for container in pod(workload)["containers"]:
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                command = " ".join(container.get(probe, {}).get("exec", {}).get("command", []))
                assert "celery" not in command, f"{name(workload)}: {probe} runs {command}"


@pytest.mark.parametrize("target", TARGETS, ids=ids)
def test_every_worker_has_a_disruption_budget(target: Path) -> None:
    docs = kustomize(target)
    budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for workload in workloads(docs):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        if labels.get("app.kubernetes.io/component") != "worker":
            continue
        covering = [
            b
            for b in budgets
            if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
            and b["spec"].get("maxUnavailable") == 1
        ]
        assert len(covering) == 1, f"{target.name}/{name(workload)}: {len(covering)} budgets"


def networks(block: dict[str, Any]) -> tuple[Any, list[Any]]:
    return ipaddress.ip_network(block["cidr"]), [ipaddress.ip_network(e) for e in block["except"]]


@pytest.mark.parametrize("target", TARGETS, ids=ids)
def test_the_webhooks_worker_cannot_reach_private_loopback_or_metadata_addresses(
    target: Path,
) -> None:
    docs = kustomize(target)
    [webhooks] = [w for w in workloads(docs) if name(w) == "llm-gateway-worker-webhooks"]
    labels = webhooks["spec"]["template"]["metadata"]["labels"]
    policies = [
        p
        for p in docs
        if p["kind"] == "NetworkPolicy"
        and "Egress" in p["spec"].get("policyTypes", [])
        and selects(p["spec"]["podSelector"], labels)
    ]
    assert any(p["spec"]["podSelector"] == {} and not p["spec"].get("egress") for p in policies)
    # Every address some egress rule opens to the pod, as ipBlocks (a rule without `to`
    # opens everything; one with pod/namespace selectors opens cluster pods only).
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            peers = rule.get("to")
            ports = {p.get("port") for p in rule.get("ports", [])}
            assert peers or ports == {53}, f"{name(policy)} opens every address to the webhooks"
            for peer in peers or []:
                if "ipBlock" not in peer:
                    continue
                cidr, excluded = networks({"except": [], **peer["ipBlock"]})
                for private in map(ipaddress.ip_network, PRIVATE_RANGES):
                    if private.version != cidr.version or not private.subnet_of(cidr):  # type: ignore[arg-type]
                        continue
                    assert any(
                        private.subnet_of(e)  # type: ignore[arg-type]
                        for e in excluded
                        if e.version == private.version
                    ), f"{name(policy)} lets the webhooks worker reach {private}"
    opened = [
        peer["ipBlock"]
        for p in policies
        for rule in p["spec"].get("egress", [])
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    ]
    assert {b["cidr"] for b in opened} == {"0.0.0.0/0", "::/0"}, "public v4 and v6 only"


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        match expr["operator"]:
            case "In":
                ok = value in expr["values"]
            case "NotIn":
                ok = value not in expr["values"]
            case "Exists":
                ok = value is not None
            case _:
                ok = value is None
        if not ok:
            return False
    return True


@pytest.mark.parametrize("target", TARGETS, ids=ids)
def test_namespace_denies_by_default_and_redis_takes_gateway_pods_only(target: Path) -> None:
    docs = kustomize(target)
    policies = {name(p): p for p in docs if p["kind"] == "NetworkPolicy"}
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    redis_labels = {"app.kubernetes.io/name": "redis"}
    for policy in policies.values():
        if not selects(policy["spec"]["podSelector"], redis_labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                assert "namespaceSelector" not in peer and "ipBlock" not in peer, name(policy)
                allowed = peer["podSelector"]
                for labels in (
                    {"app.kubernetes.io/name": "llm-gateway", "app.kubernetes.io/component": c}
                    for c in ("emulator", "downstream")
                ):
                    assert not selects(allowed, labels), f"{name(policy)} admits {labels}"


@pytest.mark.parametrize("target", TARGETS, ids=ids)
def test_the_api_takes_traffic_from_the_ingress_controller_and_prometheus_only(
    target: Path,
) -> None:
    docs = kustomize(target)
    api_labels = {"app.kubernetes.io/name": "llm-gateway", "app.kubernetes.io/component": "api"}
    sources = set()
    for policy in (d for d in docs if d["kind"] == "NetworkPolicy"):
        if not selects(policy["spec"]["podSelector"], api_labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), f"{name(policy)} admits anyone to the API"
            for peer in rule["from"]:
                namespace = peer["namespaceSelector"]["matchLabels"]
                sources.add(namespace["kubernetes.io/metadata.name"])
    assert sources == {"ingress-nginx", "monitoring"}


@pytest.mark.parametrize("target", TARGETS, ids=ids)
def test_the_ingress_matches_the_apis_body_limits_and_outlasts_its_longest_requests(
    target: Path,
) -> None:
    defaults = Settings.model_fields
    limits = {
        "/": defaults["max_body_bytes"].default,
        "/v1/batches": defaults["batch_max_body_bytes"].default,
    }
    longest = max(defaults["wait_max_seconds"].default, defaults["sync_timeout_seconds"].default)
    ingresses = [d for d in kustomize(target) if d["kind"] == "Ingress"]
    seen = {}
    for ingress in ingresses:
        notes = ingress["metadata"]["annotations"]
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert ingress["spec"]["tls"], f"{name(ingress)} serves plain HTTP"
        assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
        for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
            assert int(notes[f"nginx.ingress.kubernetes.io/{timeout}"]) > longest
        size = notes["nginx.ingress.kubernetes.io/proxy-body-size"]
        assert size.endswith("m"), size
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                seen[path["path"]] = int(size[:-1]) * 1024 * 1024
    assert seen == limits


@pytest.mark.parametrize("target", TARGETS, ids=ids)
def test_every_provider_worker_scales_on_its_own_backlog_within_its_concurrency(
    target: Path, provider_instances: dict[str, ProviderInstance], limits_of: Any
) -> None:
    docs = kustomize(target)
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in docs if d["kind"] == "ScaledObject"}
    if target.name == "dev":
        assert not scaled, "dev runs without KEDA"
        return
    hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert [h["spec"]["scaleTargetRef"]["name"] for h in hpas] == ["llm-gateway-api"]
    workers = {
        w["metadata"]["labels"][INSTANCE_LABEL]: w
        for w in workloads(docs)
        if INSTANCE_LABEL in w["metadata"].get("labels", {})
    }
    assert set(workers) == set(provider_instances)
    for instance, worker in workers.items():
        assert "replicas" not in worker["spec"], f"{instance}: the ScaledObject owns replicas"
        obj = scaled.pop(name(worker))
        [trigger] = obj["spec"]["triggers"]
        assert trigger["type"] == "prometheus"
        query = trigger["metadata"]["query"]
        match = re.fullmatch(rf'max\({BACKLOG_METRIC}\{{instance="([^"]+)"\}}\)', query)
        assert match and match.group(1) == instance, query
        command = [str(c) for c in pod(worker)["containers"][0]["command"]]
        threads = int(command[command.index(THREADS_FLAG) + 1])
        assert int(trigger["metadata"]["threshold"]) == threads
        low, high = obj["spec"]["minReplicaCount"], obj["spec"]["maxReplicaCount"]
        useful = math.ceil(limits_of(instance) / threads)
        assert 1 <= low <= high <= max(low, useful), f"{target.name}/{instance}: {low}..{high}"
    assert not scaled, f"ScaledObjects without a provider worker: {sorted(scaled)}"


@pytest.fixture
def limits_of() -> Any:
    import yaml

    from tests.deploy.conftest import PROVIDERS_FILE

    config = yaml.safe_load(PROVIDERS_FILE.read_text(encoding="utf-8"))["instances"]

    def concurrency(instance: str) -> int:
        return int(config[instance]["limits"]["max_concurrency"])

    return concurrency


@pytest.mark.parametrize("overlay", ["staging", "prod"])
def test_staging_and_prod_pin_images_by_digest_and_mark_every_placeholder(overlay: str) -> None:
    directory = K8S_ROOT / "overlays" / overlay
    docs = kustomize(directory)
    for workload in workloads(docs):
        for container in [*pod(workload).get("initContainers", []), *pod(workload)["containers"]]:
            assert PINNED_DIGEST.search(container["image"]), f"{name(workload)}: {container}"
    rendered = "\n".join(str(d) for d in docs)
    assert not EXAMPLE_VALUES.findall(rendered), f"{overlay}: unmarked example values"
    # The all-zero digest is the one placeholder; the kustomization says so next to it.
    text = (directory / "kustomization.yaml").read_text(encoding="utf-8")
    if PLACEHOLDER_DIGEST in text:
        line = text.index(PLACEHOLDER_DIGEST)
        assert "PLACEHOLDER" in text[max(0, line - 200) : line], overlay
    assert not [d for d in docs if d["kind"] == "Secret"], f"{overlay} applies Secrets"
    external = {name(d) for d in docs if d["kind"] == "ExternalSecret"}
    base_secrets = {name(d) for d in kustomize(BASE) if d["kind"] == "Secret"}
    assert external == base_secrets, f"{overlay}: ExternalSecrets {external}"
    for doc in docs:
        if doc["kind"] == "ExternalSecret":
            assert doc["spec"]["target"]["name"] == name(doc)
            assert doc["spec"]["secretStoreRef"]["name"] == "llm-gateway"
    [store] = [d for d in docs if d["kind"] == "SecretStore"]
    assert store["spec"]["provider"]["aws"]["prefix"] == f"llm-gateway/{overlay}/"


def test_each_environment_has_its_own_sizes() -> None:
    def sizes(overlay: str) -> tuple[Any, ...]:
        docs = kustomize(K8S_ROOT / "overlays" / overlay)
        [hpa] = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
        [quota] = [d for d in docs if d["kind"] == "ResourceQuota"]
        requests = sorted(
            str(c["resources"]["requests"])
            for w in workloads(docs)
            for c in pod(w)["containers"]
            if name(w).startswith("llm-gateway-worker-")
        )
        return (hpa["spec"]["minReplicas"], str(quota["spec"]["hard"]), tuple(requests))

    environments = [sizes(o) for o in ("dev", "staging", "prod")]
    assert len(set(environments)) == 3
