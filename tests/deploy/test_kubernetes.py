"""Kubernetes manifests under deploy/kubernetes: parseable, complete, locked down."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from gateway.errors import UrlNotAllowed
from gateway.outbound import OutboundPolicy
from gateway.queues import TOOLS_QUEUE, WEBHOOKS_QUEUE
from tests.deploy.conftest import (
    APP_PROVIDERS_FILE,
    APP_TOOLS_FILE,
    OUTBOUND_ALLOWLIST_VAR,
    PROVIDERS_FILE,
    PUBLIC_URL_VAR,
    SERVICE_QUEUES,
    TOOL_SERVICE_URL_VARS,
    WEBHOOK_SECRET_VARS,
    ProviderInstance,
    load_tool_names,
    webhook_secrets_for,
)
from tests.deploy.rendering import kustomize

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_ROOT = REPO_ROOT / "deploy" / "kubernetes"
BASE = K8S_ROOT / "base"
OVERLAYS = sorted(p.parent for p in (K8S_ROOT / "overlays").glob("*/kustomization.yaml"))
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}
NAMESPACE = "llm-gateway"
PROVIDER_SECRET = "llm-gateway-provider-keys"
WEBHOOK_SECRET = "llm-gateway-webhook-secrets"
ENV_CONFIG_MAP = "llm-gateway-env"
# The tool service URLs: only for the workers that call the tools.
TOOLS_ENV_CONFIG_MAP = "llm-gateway-tools-env"
CONFIG_FILES_MAP = "llm-gateway-config"
# The downstream services in production, and the dev overlay's stand-in for both.
PROD_TOOL_SERVICE_URLS = {
    "LLM_GATEWAY_SEMANTIC_SEARCH_URL": "http://semantic-search.llm-services.svc.cluster.local:8081",
    "LLM_GATEWAY_AI_AGENTS_URL": "http://ai-agents.llm-services.svc.cluster.local:8082",
}
DEV_DOWNSTREAM_URL = "http://downstream:8091"
DEV_EMULATOR_URL = "http://emulator:8090"
# Workload identity for Bedrock on EKS: the ServiceAccount annotation IRSA reads.
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# The cloud metadata service: no allowlist may open it to client-given URLs.
METADATA_ADDRESS = "169.254.169.254"
API_DEPLOYMENT = "llm-gateway-api"


def yaml_files() -> list[Path]:
    return sorted([*K8S_ROOT.rglob("*.yaml"), *K8S_ROOT.rglob("*.yml")])


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def kustomization(directory: Path) -> dict[str, Any]:
    return load_docs(directory / "kustomization.yaml")[0]


def resource_files(directory: Path) -> Iterator[Path]:
    """Manifest files a kustomization pulls in, following directory resources."""
    for entry in kustomization(directory).get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            yield from resource_files(target)
        else:
            yield target


def resources(directory: Path) -> list[dict[str, Any]]:
    return [doc for path in resource_files(directory) for doc in load_docs(path)]


def all_resources() -> list[dict[str, Any]]:
    """Every full manifest (not patches) reachable from base and the overlays, once."""
    seen: dict[Path, None] = {}
    for directory in [BASE, *OVERLAYS]:
        for path in resource_files(directory):
            seen.setdefault(path)
    return [doc for path in seen for doc in load_docs(path)]


def workloads() -> list[dict[str, Any]]:
    return [doc for doc in all_resources() if doc["kind"] in WORKLOAD_KINDS]


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    pod = workload["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def option(command: list[str], *names: str) -> str | None:
    for i, arg in enumerate(command):
        for name in names:
            if arg == name and i + 1 < len(command):
                return command[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def base_workers() -> dict[str, dict[str, Any]]:
    """Queue -> worker Deployment, for Celery workers in the base."""
    found = {}
    for doc in resources(BASE):
        if doc["kind"] != "Deployment":
            continue
        command = [str(c) for c in containers(doc)[0].get("command", [])]
        if command[:1] == ["celery"] and "worker" in command:
            queue = option(command, "-Q", "--queues")
            assert queue, f"{doc['metadata']['name']} names no queue"
            found[queue] = doc
    return found


def base_provider_workers() -> dict[str, dict[str, Any]]:
    """Queue -> worker Deployment, for the workers that call providers (all but the tools
    and webhooks workers)."""
    return {q: d for q, d in base_workers().items() if q not in SERVICE_QUEUES}


def config_map_literals(directory: Path = BASE) -> dict[str, dict[str, str]]:
    """ConfigMap name -> the literals a kustomization's generator gives it."""
    generators = kustomization(directory).get("configMapGenerator", [])
    return {
        g["name"]: dict(item.split("=", 1) for item in g.get("literals", [])) for g in generators
    }


def base_env_literals(directory: Path = BASE, name: str = ENV_CONFIG_MAP) -> dict[str, str]:
    """The literals a kustomization gives one ConfigMap (llm-gateway-env by default)."""
    return config_map_literals(directory)[name]


def rendered_env(rendered: list[dict[str, Any]], name: str = ENV_CONFIG_MAP) -> dict[str, str]:
    """The data of a rendered generated ConfigMap (its name carries a content hash)."""
    generated = re.compile(re.escape(name) + r"-[a-z0-9]{10}")
    [env] = [
        d
        for d in rendered
        if d["kind"] == "ConfigMap" and generated.fullmatch(d["metadata"]["name"])
    ]
    return {str(key): str(value) for key, value in (env.get("data") or {}).items()}


def config_map_refs(workload: dict[str, Any]) -> set[str]:
    """The ConfigMaps a pod imports whole (envFrom)."""
    return {
        source["configMapRef"]["name"]
        for container in containers(workload)
        for source in container.get("envFrom", [])
        if "configMapRef" in source
    }


def env_names(workload: dict[str, Any]) -> set[str]:
    """Variables a pod sets one by one (``env``), whatever their source."""
    return {var["name"] for container in containers(workload) for var in container.get("env", [])}


def webhook_secret_readers(docs: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Workload name -> the webhook secret variables it takes, for every workload taking one."""
    readers = {}
    for workload in docs:
        if workload["kind"] not in WORKLOAD_KINDS:
            continue
        names = set(secret_env(workload, WEBHOOK_SECRET))
        whole = any(
            (source.get("secretRef") or {}).get("name") == WEBHOOK_SECRET
            for container in containers(workload)
            for source in container.get("envFrom", [])
        )
        if names or whole:
            readers[workload["metadata"]["name"]] = names | ({"<envFrom>"} if whole else set())
    return readers


def patched_deployments(path: Path) -> set[str]:
    return {d["metadata"]["name"] for d in load_docs(path) if d["kind"] == "Deployment"}


def base_deployment(name: str) -> dict[str, Any]:
    deployments = [d for d in resources(BASE) if d["kind"] == "Deployment"]
    matches = [d for d in deployments if d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one Deployment {name} in the base"
    return matches[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def secret_volumes(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Volume name -> its ``secret`` source, for the Secret volumes of a pod."""
    return {v["name"]: v["secret"] for v in pod_spec(workload).get("volumes", []) if "secret" in v}


def secret_refs(workload: dict[str, Any]) -> set[str]:
    """Every Secret a pod reads: envFrom, env secretKeyRefs and Secret volumes."""
    refs = {source["secretName"] for source in secret_volumes(workload).values()}
    for container in containers(workload):
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                refs.add(source["secretRef"]["name"])
        for var in container.get("env", []):
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                refs.add(ref["name"])
    return refs


def secret_env(
    workload: dict[str, Any], secret: str = PROVIDER_SECRET
) -> dict[str, dict[str, Any]]:
    """Env var -> its secretKeyRef, for the variables a pod takes from ``secret``."""
    return {
        var["name"]: ref
        for container in containers(workload)
        for var in container.get("env", [])
        if (ref := (var.get("valueFrom") or {}).get("secretKeyRef")) and ref["name"] == secret
    }


def secret_keys(name: str) -> set[str]:
    """The keys a Secret of the base template defines."""
    secret = next(
        d for d in resources(BASE) if d["kind"] == "Secret" and d["metadata"]["name"] == name
    )
    return set(secret.get("stringData") or {}) | set(secret.get("data") or {})


def secret_files(workload: dict[str, Any]) -> dict[str, str]:
    """File path -> Secret name, for every file a pod's Secret volumes put in a container."""
    volumes = secret_volumes(workload)
    files: dict[str, str] = {}
    for container in containers(workload):
        for mount in container.get("volumeMounts", []):
            source = volumes.get(mount["name"])
            if source is None:
                continue
            name = source["secretName"]
            items = source.get("items") or [{"key": k, "path": k} for k in secret_keys(name)]
            target = PurePosixPath(mount["mountPath"])
            for item in items:
                if mount.get("subPath") in (None, item["path"]):
                    path = target if mount.get("subPath") else target / item["path"]
                    files[str(path)] = name
    return files


def instance_workers() -> dict[str, dict[str, Any]]:
    """Provider instance name -> its worker Deployment in the base."""
    return {q.removeprefix("llm."): d for q, d in base_provider_workers().items()}


def worker_instance(workload: dict[str, Any]) -> str | None:
    """The provider instance whose worker ``workload`` is (None for every other one)."""
    name = workload["metadata"]["name"]
    owners = [i for i, d in instance_workers().items() if d["metadata"]["name"] == name]
    return owners[0] if owners else None


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(K8S_ROOT)))
def test_every_kubernetes_yaml_file_parses(path: Path) -> None:
    docs = load_docs(path)
    assert docs, f"{path} is empty"
    assert all(isinstance(doc, dict) for doc in docs), f"{path} holds a non-mapping document"


@pytest.mark.parametrize("directory", [BASE, *OVERLAYS], ids=lambda p: p.name)
def test_kustomization_references_exist_on_disk(directory: Path) -> None:
    spec = kustomization(directory)
    referenced = list(spec.get("resources", []))
    referenced += [p["path"] for p in spec.get("patches", []) if "path" in p]
    for generator in [*spec.get("configMapGenerator", []), *spec.get("secretGenerator", [])]:
        referenced += [f.split("=", 1)[-1] for f in generator.get("files", [])]
        referenced += list(generator.get("envs", []))
    for entry in referenced:
        target = directory / entry
        assert target.exists(), f"{directory.name}/kustomization.yaml: {entry} does not exist"
        if target.is_dir():
            assert (target / "kustomization.yaml").exists(), f"{entry} is not a kustomization"


def test_base_kustomization_lists_every_manifest_in_base() -> None:
    spec = kustomization(BASE)
    used = set(spec.get("resources", []))
    for generator in spec.get("configMapGenerator", []):
        used |= {f.split("=", 1)[-1] for f in generator.get("files", [])}
    unused = {p.name for p in BASE.glob("*.yaml")} - used - {"kustomization.yaml"}
    assert not unused, f"manifests in base that kustomization.yaml does not use: {sorted(unused)}"


def test_every_manifest_has_kind_api_version_and_name() -> None:
    for doc in all_resources():
        assert doc.get("apiVersion") and doc.get("kind"), doc
        assert doc.get("metadata", {}).get("name"), doc


def test_every_workload_sets_resource_requests_and_memory_limits() -> None:
    for workload in workloads():
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            res = container.get("resources") or {}
            requests = res.get("requests") or {}
            assert {"cpu", "memory"} <= set(requests), f"{where}: needs cpu+memory requests"
            assert "memory" in (res.get("limits") or {}), f"{where}: needs a memory limit"


def test_every_workload_runs_non_root_without_privilege_escalation() -> None:
    for workload in workloads():
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        pod_ctx = pod.get("securityContext") or {}
        assert pod_ctx.get("runAsNonRoot") is True, f"{name}: runAsNonRoot must be true"
        assert pod_ctx.get("runAsUser", 1) != 0, f"{name}: runs as uid 0"
        assert (pod_ctx.get("seccompProfile") or {}).get("type") == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, f"{name}: mounts an API token"
        for container in containers(workload):
            ctx = container.get("securityContext") or {}
            where = f"{name}/{container['name']}"
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert ctx.get("readOnlyRootFilesystem") is True, where
            assert "ALL" in (ctx.get("capabilities") or {}).get("drop", []), where


def test_app_pods_use_uid_10001_and_writable_tmp() -> None:
    for workload in workloads():
        if containers(workload)[0]["image"].split(":")[0] != "llm-gateway":
            continue
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == 10001, name
        mounts = {m["mountPath"] for c in containers(workload) for m in c.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{name}: read-only root fs needs an emptyDir at /tmp"


def test_api_deployment_has_liveness_readiness_and_startup_probes() -> None:
    api = containers(base_deployment("llm-gateway-api"))[0]
    assert api["command"] == ["llm-gateway", "api"]
    assert {"containerPort": 8080, "name": "http", "protocol": "TCP"} in api["ports"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"
    assert api["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert api["startupProbe"]["httpGet"]["path"] == "/health"


def test_api_has_a_service_a_disruption_budget_and_an_autoscaler() -> None:
    docs = resources(BASE)
    api = base_deployment("llm-gateway-api")
    labels = api["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str]) -> bool:
        return bool(selector.items() <= labels.items())

    services = [d for d in docs if d["kind"] == "Service" and selects(d["spec"]["selector"])]
    assert services, "no Service selects the API pods"
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert any(selects(p["spec"]["selector"]["matchLabels"]) for p in pdbs), "no PDB for the API"
    hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    targets = [h for h in hpas if h["spec"]["scaleTargetRef"]["name"] == "llm-gateway-api"]
    assert targets, "no HPA for the API"
    assert 1 <= targets[0]["spec"]["minReplicas"] <= targets[0]["spec"]["maxReplicas"]


def test_one_worker_deployment_per_provider_queue_one_for_tools_one_for_webhooks(
    provider_instances: dict[str, ProviderInstance], worker_queues: set[str]
) -> None:
    workers = base_workers()
    assert set(workers) == worker_queues
    for queue, deployment in workers.items():
        node = queue.removeprefix("llm.")
        container = containers(deployment)[0]
        command = [str(c) for c in container["command"]]
        assert command[:4] == ["celery", "-A", "workers", "worker"], command
        assert option(command, "-n", "--hostname") == f"{node}@%h"
        assert option(command, "-P", "--pool") == "threads"
        assert option(command, "-c", "--concurrency") == "64"
        assert node in provider_instances or queue in SERVICE_QUEUES
        assert deployment["metadata"]["annotations"]["llm-gateway/queue"] == queue
        if queue not in SERVICE_QUEUES:
            labels = deployment["metadata"]["labels"]
            assert labels["llm-gateway/provider-instance"] == node, queue
        # The heartbeat file the worker touches (llm-gateway-env), not a Celery ping.
        beat_file = base_env_literals()["LLM_GATEWAY_WORKER_HEARTBEAT_FILE"]
        for kind in ("livenessProbe", "readinessProbe"):
            probe = " ".join(container[kind]["exec"]["command"])
            assert beat_file in probe and "celery" not in probe, f"{queue}: {kind} {probe}"


def test_worker_deployments_select_only_their_own_pods() -> None:
    workers = base_workers().values()
    for deployment in workers:
        selector = deployment["spec"]["selector"]["matchLabels"]
        for other in workers:
            labels = other["spec"]["template"]["metadata"]["labels"]
            owns = selector.items() <= labels.items()
            assert owns == (other is deployment), (
                f"{deployment['metadata']['name']} selects pods of {other['metadata']['name']}"
            )


def test_workers_wait_for_in_flight_llm_calls_on_shutdown() -> None:
    for queue, deployment in base_workers().items():
        grace = deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        assert grace >= 300, f"worker for {queue}: terminationGracePeriodSeconds {grace} < 300"


def test_each_provider_worker_gets_its_own_instances_credential_env_only(
    provider_instances: dict[str, ProviderInstance],
) -> None:
    # One secretKeyRef per variable: envFrom would hand every worker every key.
    for workload in workloads():
        name = workload["metadata"]["name"]
        instance = worker_instance(workload)
        for container in containers(workload):
            for source in container.get("envFrom", []):
                assert (source.get("secretRef") or {}).get("name") != PROVIDER_SECRET, (
                    f"{name}: envFrom {PROVIDER_SECRET} gives it every instance's keys"
                )
        refs = secret_env(workload)
        expected = provider_instances[instance].secret_env if instance else frozenset()
        assert set(refs) == expected, f"{name} gets {sorted(refs)}, needs {sorted(expected)}"
        for var, ref in refs.items():
            assert ref["key"] == var, f"{name}: {var} comes from key {ref['key']}"
            # Without credentials the worker disables its instance; the pod still starts.
            assert ref.get("optional") is True, f"{name}: {var} must be an optional reference"
    assert secret_refs(base_deployment(API_DEPLOYMENT)) == {"llm-gateway-api-keys", WEBHOOK_SECRET}
    assert secret_refs(base_deployment("llm-gateway-flower")) == {"llm-gateway-flower-auth"}
    assert secret_refs(base_workers()[TOOLS_QUEUE]) == set()
    assert secret_refs(base_workers()[WEBHOOKS_QUEUE]) == {WEBHOOK_SECRET}


def test_webhook_secrets_reach_the_api_and_the_webhooks_worker_only() -> None:
    # The API serves GET /v1/webhooks/secret and refuses webhooks to a tenant without a
    # secret; the webhooks worker signs. One secretKeyRef per variable, optional: without
    # them webhooks are refused, nothing fails to start.
    webhooks = base_workers()[WEBHOOKS_QUEUE]["metadata"]["name"]
    expected = set(WEBHOOK_SECRET_VARS)
    assert webhook_secret_readers(workloads()) == {API_DEPLOYMENT: expected, webhooks: expected}
    for workload in (base_deployment(API_DEPLOYMENT), base_workers()[WEBHOOKS_QUEUE]):
        for var, ref in secret_env(workload, WEBHOOK_SECRET).items():
            assert ref["key"] == var, f"{var} comes from key {ref['key']}"
            assert ref.get("optional") is True, f"{var} must be an optional reference"
    assert secret_keys(WEBHOOK_SECRET) == expected, f"{WEBHOOK_SECRET} template keys"


def test_webhook_secret_check_catches_a_secret_given_to_another_worker() -> None:
    tools = copy.deepcopy(base_workers()[TOOLS_QUEUE])
    containers(tools)[0]["envFrom"].append({"secretRef": {"name": WEBHOOK_SECRET}})
    readers = webhook_secret_readers([tools])
    assert readers == {"llm-gateway-worker-tools": {"<envFrom>"}}


def test_webhooks_worker_gets_no_provider_keys_and_no_service_account() -> None:
    webhooks = base_workers()[WEBHOOKS_QUEUE]
    assert worker_instance(webhooks) is None
    assert not secret_env(webhooks), "the webhooks worker gets provider keys"
    assert not secret_files(webhooks), "the webhooks worker gets key files"
    assert "serviceAccountName" not in pod_spec(webhooks), "no cloud identity for it"
    assert webhooks["metadata"]["labels"]["llm-gateway/job-kind"] == "webhook"


def test_key_files_are_mounted_from_secrets_into_their_own_worker_only(
    provider_instances: dict[str, ProviderInstance],
) -> None:
    workers = instance_workers()
    file_secrets: dict[str, str] = {}  # Secret carrying a key file -> its instance
    for instance in provider_instances.values():
        if not instance.mounted_files:
            continue
        worker = workers[instance.name]
        files = secret_files(worker)
        mounts = {m["mountPath"]: m for c in containers(worker) for m in c.get("volumeMounts", [])}
        for key_file in instance.mounted_files:
            # The default path of providers.yaml: the worker sets no variable to move it.
            assert key_file.path in files, f"{instance.name}: {key_file.path} is not mounted"
            file_secrets[files[key_file.path]] = instance.name
            mount = mounts.get(key_file.path) or mounts[str(PurePosixPath(key_file.path).parent)]
            assert mount.get("readOnly") is True, f"{instance.name}: {key_file.path} writable"
    owners = {
        path: i.name for i in provider_instances.values() for path in (f.path for f in i.files)
    }
    for workload in workloads():
        name = workload["metadata"]["name"]
        mine = worker_instance(workload)
        for secret in secret_refs(workload) & set(file_secrets):
            assert file_secrets[secret] == mine, f"{name} reads {secret} ({file_secrets[secret]})"
        for path in secret_files(workload):
            assert owners.get(path, mine) == mine, f"{name} gets {path} of {owners[path]}"


def test_secret_template_has_a_placeholder_for_every_credential(
    provider_instances: dict[str, ProviderInstance],
) -> None:
    needed = {var for inst in provider_instances.values() for var in inst.secret_env}
    missing = needed - secret_keys(PROVIDER_SECRET)
    assert not missing, f"{PROVIDER_SECRET} template lacks {sorted(missing)}"
    for workload in workloads():
        for source in secret_volumes(workload).values():
            keys = secret_keys(source["secretName"])
            for item in source.get("items") or []:
                assert item["key"] in keys, f"{source['secretName']} template lacks {item['key']}"


def test_bedrock_workers_assume_an_irsa_role_through_their_own_service_account(
    provider_instances: dict[str, ProviderInstance],
) -> None:
    accounts = {d["metadata"]["name"]: d for d in resources(BASE) if d["kind"] == "ServiceAccount"}
    bedrock = {
        instance_workers()[i.name]["metadata"]["name"]
        for i in provider_instances.values()
        if i.type == "bedrock" and i.workload_identity
    }
    assert bedrock, "config/providers.yaml has no Bedrock instance with workload identity"
    irsa = set()
    for workload in workloads():
        name = workload["metadata"]["name"]
        account = pod_spec(workload).get("serviceAccountName")
        if name not in bedrock:
            # The role would reach pods that have no business with AWS.
            annotations = (accounts.get(account) or {}).get("metadata", {}).get("annotations", {})
            assert IRSA_ANNOTATION not in (annotations or {}), f"{name} gets the Bedrock role"
            continue
        assert account in accounts, f"{name}: ServiceAccount {account} is not in the base"
        irsa.add(account)
    for account in irsa:
        spec = accounts[account]
        assert "REPLACE" in spec["metadata"]["annotations"][IRSA_ANNOTATION], account
        assert spec.get("automountServiceAccountToken") is False, account


def test_secret_template_holds_placeholders_only() -> None:
    secrets = [d for d in resources(BASE) if d["kind"] == "Secret"]
    assert {s["metadata"]["name"] for s in secrets} >= {PROVIDER_SECRET, "llm-gateway-api-keys"}
    for secret in secrets:
        assert "data" not in secret, "use stringData placeholders, not encoded values"
        for key, value in secret["stringData"].items():
            assert "REPLACE" in value, f"{secret['metadata']['name']}.{key} is not a placeholder"


def test_base_providers_file_is_a_copy_of_config(
    provider_instances: dict[str, ProviderInstance], read_provider_instances: Any
) -> None:
    deployed = yaml.safe_load((BASE / "providers.yaml").read_text(encoding="utf-8"))
    config = yaml.safe_load(PROVIDERS_FILE.read_text(encoding="utf-8"))
    assert deployed == config, "base/providers.yaml differs from config/providers.yaml"
    assert read_provider_instances(BASE / "providers.yaml") == provider_instances


def test_base_tools_file_defines_the_tools_of_config() -> None:
    deployed = load_tool_names(BASE / "tools.yaml")
    assert deployed == load_tool_names(), "base/tools.yaml differs from config/tools.yaml"


def test_config_mount_carries_providers_and_tools_files() -> None:
    # The mount hides the image's /app/config, so it must bring every file read from there.
    generators = {g["name"]: g for g in kustomization(BASE)["configMapGenerator"]}
    files = {f.split("=", 1)[0] for f in generators[CONFIG_FILES_MAP]["files"]}
    for path in (APP_PROVIDERS_FILE, APP_TOOLS_FILE):
        assert path.removeprefix("/app/config/") in files, f"{CONFIG_FILES_MAP} lacks {path}"
    for workload in workloads():
        name = workload["metadata"]["name"]
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"].get("volumes", [])}
        for container in containers(workload):
            for mount in container.get("volumeMounts", []):
                if mount["mountPath"] == "/app/config":
                    source = volumes[mount["name"]].get("configMap") or {}
                    assert source.get("name") == CONFIG_FILES_MAP, f"{name}: /app/config"


def test_tool_calling_workers_get_the_production_tool_service_urls_and_no_one_else() -> None:
    # Provider workers (tool loops, enhancement jobs) and the tools worker call the tool
    # services; the webhooks worker, the API and Flower do not, so the URLs live in a
    # ConfigMap of their own, not in llm-gateway-env (which every pod imports).
    literals = base_env_literals(name=TOOLS_ENV_CONFIG_MAP)
    assert literals == PROD_TOOL_SERVICE_URLS
    for queue, deployment in base_workers().items():
        refs = config_map_refs(deployment)
        assert ENV_CONFIG_MAP in refs, f"worker for {queue} does not get {ENV_CONFIG_MAP}"
        calls_tools = queue != WEBHOOKS_QUEUE
        assert (TOOLS_ENV_CONFIG_MAP in refs) == calls_tools, f"worker for {queue}: {refs}"
    for workload in workloads():
        name = workload["metadata"]["name"]
        assert not env_names(workload) & set(TOOL_SERVICE_URL_VARS), f"{name} sets a tool URL"
        if name in {API_DEPLOYMENT, "llm-gateway-flower"}:
            assert TOOLS_ENV_CONFIG_MAP not in config_map_refs(workload), name


@pytest.mark.parametrize("directory", [BASE, *OVERLAYS], ids=lambda p: p.name)
def test_no_tool_service_url_is_a_literal_of_the_shared_env(directory: Path) -> None:
    shared = config_map_literals(directory).get(ENV_CONFIG_MAP, {})
    assert not set(shared) & set(TOOL_SERVICE_URL_VARS), f"{directory.name}: {ENV_CONFIG_MAP}"


@pytest.mark.parametrize("directory", [BASE, *OVERLAYS], ids=lambda p: p.name)
def test_outbound_allowlist_is_one_shared_setting_that_never_opens_the_metadata_service(
    directory: Path,
) -> None:
    # The API checks client URLs at submission, the workers at connect time: one value in
    # llm-gateway-env, which every one of them imports, and no pod overrides it.
    for name, literals in config_map_literals(directory).items():
        if name != ENV_CONFIG_MAP:
            assert OUTBOUND_ALLOWLIST_VAR not in literals, f"{directory.name}: in {name}"
    value = {**base_env_literals(), **base_env_literals(directory)}[OUTBOUND_ALLOWLIST_VAR]
    policy = OutboundPolicy.from_allowlist(value, resolve=lambda host, port: [METADATA_ADDRESS])
    with pytest.raises(UrlNotAllowed, match=re.escape(METADATA_ADDRESS)):
        policy.check_url(f"http://{METADATA_ADDRESS}/latest/meta-data/", param="webhook.url")
    with pytest.raises(UrlNotAllowed, match=r"metadata\.google\.internal"):
        policy.check_url("http://metadata.google.internal/", param="webhook.url")


def test_api_and_every_worker_read_the_shared_outbound_allowlist() -> None:
    assert base_env_literals()[OUTBOUND_ALLOWLIST_VAR] == "", "base allows private addresses"
    readers = [base_deployment(API_DEPLOYMENT), *base_workers().values()]
    for workload in readers:
        name = workload["metadata"]["name"]
        assert ENV_CONFIG_MAP in config_map_refs(workload), f"{name}: no {ENV_CONFIG_MAP}"
    for workload in workloads():
        name = workload["metadata"]["name"]
        assert OUTBOUND_ALLOWLIST_VAR not in env_names(workload), f"{name} overrides it"


def test_results_links_point_at_the_api_service_in_the_base() -> None:
    docs = resources(BASE)
    [service] = [
        d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == API_DEPLOYMENT
    ]
    [port] = [p["port"] for p in service["spec"]["ports"] if p["name"] == "http"]
    host = f"{API_DEPLOYMENT}.{NAMESPACE}.svc.cluster.local"
    expected = f"http://{host}" if port == 80 else f"http://{host}:{port}"
    assert base_env_literals()[PUBLIC_URL_VAR] == expected


@pytest.mark.parametrize(
    "patch",
    [
        K8S_ROOT / "overlays" / "dev" / "patch-workers.yaml",
        K8S_ROOT / "overlays" / "prod" / "patch-workers.yaml",
    ],
    ids=lambda p: p.parent.name,
)
def test_overlay_worker_patches_cover_every_worker(patch: Path) -> None:
    workers = {d["metadata"]["name"] for d in base_workers().values()}
    assert workers <= patched_deployments(patch), f"{patch.name} misses a worker"


def test_base_config_sets_broker_bind_address_providers_file_and_json_logs() -> None:
    literals = base_env_literals()
    assert literals["LLM_GATEWAY_REDIS_URL"].startswith("redis://")
    assert literals["LLM_GATEWAY_PROVIDERS_FILE"] == APP_PROVIDERS_FILE
    assert literals["LLM_GATEWAY_TOOLS_FILE"] == APP_TOOLS_FILE
    assert literals["LLM_GATEWAY_LOG_JSON"] == "true"
    assert literals["LLM_GATEWAY_HOST"] == "0.0.0.0"
    assert not {k for k in literals if k.endswith("_API_KEY") or k.endswith("_API_KEYS")}


@pytest.mark.parametrize("directory", [BASE, *OVERLAYS], ids=lambda p: p.name)
def test_no_credential_is_a_config_map_literal(
    directory: Path, provider_secret_env_names: set[str]
) -> None:
    # llm-gateway-env reaches every pod (API and Flower too): credentials stay in Secrets.
    secrets = provider_secret_env_names | set(WEBHOOK_SECRET_VARS)
    for name, literals in config_map_literals(directory).items():
        leaked = set(literals) & secrets
        assert not leaked, f"{directory.name}: {sorted(leaked)} in {name}"


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    return kustomize(directory)


@pytest.mark.parametrize("directory", [BASE, *OVERLAYS], ids=lambda p: p.name)
def test_kustomization_renders_into_one_namespace(directory: Path) -> None:
    rendered = _kustomize(directory)
    kinds = {d["kind"] for d in rendered}
    assert {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler"} <= kinds
    for doc in rendered:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]["name"]


def test_prod_overlay_ships_no_placeholder_secrets() -> None:
    rendered = _kustomize(K8S_ROOT / "overlays" / "prod")
    assert not [d["metadata"]["name"] for d in rendered if d["kind"] == "Secret"]


def test_prod_overlay_calls_the_production_tool_services() -> None:
    env = rendered_env(_kustomize(K8S_ROOT / "overlays" / "prod"), TOOLS_ENV_CONFIG_MAP)
    assert env == PROD_TOOL_SERVICE_URLS


def test_dev_overlay_brings_redis_the_emulator_and_the_tools_stand_in() -> None:
    rendered = _kustomize(K8S_ROOT / "overlays" / "dev")
    names = {(d["kind"], d["metadata"]["name"]) for d in rendered}
    assert {("Service", "redis"), ("Service", "emulator"), ("Service", "downstream")} <= names
    env = rendered_env(rendered)
    assert env["OPENAI_BASE_URL"] == "http://emulator:8090/v1"
    assert env["ANTHROPIC_BASE_URL"] == "http://emulator:8090"
    tools_env = rendered_env(rendered, TOOLS_ENV_CONFIG_MAP)
    assert tools_env == dict.fromkeys(TOOL_SERVICE_URL_VARS, DEV_DOWNSTREAM_URL)


def test_dev_overlay_points_every_instance_at_the_emulator_with_dev_credentials(
    provider_instances: dict[str, ProviderInstance],
) -> None:
    rendered = _kustomize(K8S_ROOT / "overlays" / "dev")
    env = rendered_env(rendered)
    for instance in provider_instances.values():
        for var in sorted(instance.url_vars):
            assert env.get(var, "").startswith(DEV_EMULATOR_URL), f"{instance.name}: {var}"
    secrets = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "Secret"}
    values = secrets[PROVIDER_SECRET].get("stringData") or {}
    for instance in provider_instances.values():
        for var in sorted(instance.secret_env):
            assert values.get(var) and "REPLACE" not in values[var], f"dev {var}"


def test_dev_overlay_webhook_secrets_are_throwaway_values_that_sign(
    provider_instances: dict[str, ProviderInstance],
) -> None:
    rendered = _kustomize(K8S_ROOT / "overlays" / "dev")
    secrets = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "Secret"}
    values = secrets[WEBHOOK_SECRET].get("stringData") or {}
    assert set(values) == set(WEBHOOK_SECRET_VARS)
    assert not [v for v in values.values() if "REPLACE" in v], values
    # Valid for the API and the worker (a malformed one stops both at start-up); the dev
    # client's tenant and any other one get a secret.
    api_keys = secrets["llm-gateway-api-keys"]["stringData"]["LLM_GATEWAY_API_KEYS"]
    tenant = api_keys.split(":", 1)[0]
    signing = webhook_secrets_for(values)
    assert signing.for_tenant(tenant) and signing.for_tenant("another-tenant")


def test_dev_overlay_generates_throwaway_key_files_in_their_own_worker(
    provider_instances: dict[str, ProviderInstance], tmp_path: Path
) -> None:
    # Dev has no key-file Secrets: an init container of the worker writes a key the
    # emulator accepts into an emptyDir at the path providers.yaml reads. Its script is
    # run here, against a temporary directory.
    rendered = _kustomize(K8S_ROOT / "overlays" / "dev")
    deployments = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "Deployment"}
    secrets = {d["metadata"]["name"] for d in rendered if d["kind"] == "Secret"}
    for instance in provider_instances.values():
        if not instance.mounted_files:
            continue
        base = instance_workers()[instance.name]
        placeholders = {v["secretName"] for v in secret_volumes(base).values()}
        assert not placeholders & secrets, f"dev renders placeholder Secrets {placeholders}"
        worker = deployments[base["metadata"]["name"]]
        assert not secret_volumes(worker), f"{instance.name}: dev mounts a key-file Secret"
        volumes = {v["name"]: v for v in pod_spec(worker).get("volumes", [])}
        [main] = [c for c in pod_spec(worker)["containers"] if c["name"] == "worker"]
        directories = {str(PurePosixPath(f.path).parent) for f in instance.mounted_files}
        for directory in directories:
            [mount] = [m for m in main["volumeMounts"] if m["mountPath"] == directory]
            assert "emptyDir" in volumes[mount["name"]], f"{instance.name}: {directory}"
            [writer] = [
                c
                for c in pod_spec(worker).get("initContainers", [])
                if any(m["name"] == mount["name"] for m in c.get("volumeMounts", []))
            ]
            command = [str(part) for part in writer["command"]]
            assert command[:2] == ["python", "-c"], command
            out = tmp_path / instance.name
            script = command[2].replace(directory, str(out))
            result = subprocess.run(
                [sys.executable, "-c", script],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, f"{instance.name}: {result.stderr}"
            # Its own key files only, and a Google key exchanges tokens with the emulator.
            wanted = {PurePosixPath(f.path).name for f in instance.mounted_files}
            assert {p.name for p in out.iterdir()} == wanted, instance.name
            for path in out.glob("*.json"):
                token_uri = json.loads(path.read_text(encoding="utf-8"))["token_uri"]
                assert token_uri.startswith(DEV_EMULATOR_URL), token_uri


def test_dev_tools_stand_in_serves_the_port_its_service_targets() -> None:
    docs = load_docs(K8S_ROOT / "overlays" / "dev" / "downstream.yaml")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    service = next(d for d in docs if d["kind"] == "Service")
    container = containers(deployment)[0]
    command = [str(c) for c in container["command"]]
    assert command[:2] == ["llm-gateway", "downstream"]
    assert option(command, "--host") == "0.0.0.0"
    port = int(DEV_DOWNSTREAM_URL.rsplit(":", 1)[1])
    assert option(command, "--port") == str(port)
    assert container["ports"][0]["containerPort"] == port
    assert service["spec"]["ports"][0]["port"] == port
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
