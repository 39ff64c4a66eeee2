"""docker-compose.yml: valid per the Compose Specification, and wired like the real processes.

The schema is vendored (no network at test time): ``compose-spec.json`` is
``schema/compose-spec.json`` of github.com/compose-spec/compose-spec (draft-07 revision),
byte-for-byte as shipped in check-jsonschema 0.37.4's builtin schemas; licence in
``compose-spec.LICENSE`` (Apache-2.0). To update it, replace the file and the hash below.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shlex
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
import yaml

from gateway.outbound import OutboundPolicy
from gateway.queues import WEBHOOKS_QUEUE
from tests.deploy.conftest import (
    APP_PROVIDERS_FILE,
    APP_TOOLS_FILE,
    ENV_REF,
    OUTBOUND_ALLOWLIST_VAR,
    PUBLIC_URL_VAR,
    SERVICE_QUEUES,
    TOOL_SERVICE_URL_VARS,
    WEBHOOK_SECRET_VARS,
    ProviderInstance,
    settings_field,
    webhook_secrets_for,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SCHEMA_FILE = Path(__file__).with_name("compose-spec.json")
SCHEMA_SHA256 = "1f91e091f16b2dd50ab8860e02bb391d22df553d91c145eacedb1b6eff9c3f0e"

CORE_SERVICES = {"redis", "emulator", "downstream", "api", "flower"}
REDIS_URL = "redis://redis:6379/0"
DOWNSTREAM_URL = "http://downstream:8091"
EMULATOR_URL = "http://emulator:8090"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.partition("=") for item in env)
        return {key: value for key, _, value in pairs}
    return {key: "" if value is None else str(value) for key, value in env.items()}


def option(command: list[str], *names: str) -> str | None:
    """Value of a CLI option given as `-Q x`, `--queues x` or `--queues=x`."""
    for i, arg in enumerate(command):
        for name in names:
            if arg == name and i + 1 < len(command):
                return command[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def worker_services(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Celery worker service name -> the queue it consumes."""
    workers = {}
    for name, service in services.items():
        command = command_of(service)
        if command[:1] == ["celery"] and "worker" in command:
            queue = option(command, "-Q", "--queues")
            assert queue, f"{name} names no queue"
            workers[name] = queue
    return workers


def provider_workers(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The workers that call providers: every worker but the tools and webhooks workers."""
    return {name: q for name, q in worker_services(services).items() if q not in SERVICE_QUEUES}


def tool_workers(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The workers that call the tool services: every worker but the webhooks worker."""
    return {name: q for name, q in worker_services(services).items() if q != WEBHOOKS_QUEUE}


def webhooks_worker(services: dict[str, dict[str, Any]]) -> str:
    [name] = [n for n, q in worker_services(services).items() if q == WEBHOOKS_QUEUE]
    return name


def default_of(value: str) -> str:
    """What ``${VAR:-default}`` becomes when VAR is unset (the value itself if not one)."""
    match = ENV_REF.fullmatch(value)
    return value if match is None else match.group("default") or ""


def webhook_secret_leaks(services: dict[str, dict[str, Any]]) -> list[str]:
    """Services other than the API and the webhooks worker that get a webhook secret."""
    allowed = {"api", webhooks_worker(services)}
    return sorted(
        f"{name}: {var}"
        for name, service in services.items()
        if name not in allowed
        for var in set(WEBHOOK_SECRET_VARS) & set(env_of(service))
    )


def test_vendored_compose_schema_is_the_pinned_draft07_spec() -> None:
    raw = SCHEMA_FILE.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "compose-spec.json was modified"
    schema = json.loads(raw)
    assert "draft-07" in schema["$schema"]
    assert schema["title"] == "Compose Specification"
    jsonschema.Draft7Validator.check_schema(schema)


def test_compose_file_validates_against_compose_spec(
    compose: dict[str, Any], validator: jsonschema.Draft7Validator
) -> None:
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    report = "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    assert not errors, f"docker-compose.yml violates the Compose Specification:\n{report}"


def test_compose_schema_validation_rejects_unknown_service_keys(
    compose: dict[str, Any], validator: jsonschema.Draft7Validator
) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["api"]["dependson"] = ["redis"]
    assert not validator.is_valid(broken), "the schema check would not catch a typo"


def test_compose_file_has_no_obsolete_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose


def test_compose_defines_redis_emulators_api_and_flower(services: dict[str, Any]) -> None:
    missing = CORE_SERVICES - set(services)
    assert not missing, f"missing services: {sorted(missing)}"


def test_compose_runs_one_celery_worker_per_provider_queue_one_for_tools_one_for_webhooks(
    services: dict[str, Any],
    provider_instances: dict[str, ProviderInstance],
    worker_queues: set[str],
) -> None:
    workers = worker_services(services)
    queues = sorted(q for q in workers.values() if q)
    assert sorted(worker_queues) == queues, f"worker queues {workers} != {worker_queues}"
    for name, queue in workers.items():
        node = queue.removeprefix("llm.")
        command = command_of(services[name])
        assert command[:4] == ["celery", "-A", "workers", "worker"], command
        assert option(command, "-n", "--hostname") == f"{node}@%h"
        assert option(command, "-P", "--pool") == "threads"
        assert option(command, "-c", "--concurrency") == "64"
        assert node in provider_instances or queue in SERVICE_QUEUES
        probe = " ".join(command_of({"command": services[name]["healthcheck"]["test"]}))
        beat_file = env_of(services[name])["LLM_GATEWAY_WORKER_HEARTBEAT_FILE"]
        assert beat_file in probe and "celery" not in probe, f"{name}: {probe}"


def test_workers_get_a_long_stop_grace_period_for_late_acked_calls(
    services: dict[str, Any],
) -> None:
    for name in worker_services(services):
        grace = str(services[name].get("stop_grace_period", ""))
        assert grace.endswith("m") or grace.endswith("s"), f"{name}: no stop_grace_period"
        seconds = int(grace[:-1]) * (60 if grace.endswith("m") else 1)
        assert seconds >= 60, f"{name}: stop_grace_period {grace} is too short"


def test_redis_uses_append_only_persistence_on_a_named_volume(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    redis = services["redis"]
    assert redis["image"] == "redis:7.2-alpine"
    command = command_of(redis)
    assert option(command, "--appendonly") == "yes"
    assert option(command, "--appendfsync") == "everysec"
    mounts = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in redis["volumes"]]
    named = [m.split(":")[0] for m in mounts if m.split(":")[1] == "/data"]
    assert named, "redis /data is not on a volume"
    assert named[0] in (compose.get("volumes") or {}), f"{named[0]} is not a named volume"
    assert "redis-cli" in command_of({"command": redis["healthcheck"]["test"]})


def test_every_service_has_its_own_healthcheck(services: dict[str, Any]) -> None:
    # The image's HEALTHCHECK probes the API port; every other role must replace it.
    for name, service in services.items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_dependencies_wait_until_healthy(services: dict[str, Any]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on must use conditions"
        for dep, spec in depends.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert spec.get("condition") == "service_healthy", f"{name} -> {dep}"
            assert services[dep].get("healthcheck"), f"{dep} has no healthcheck to wait for"
    for name in ["api", "flower", *worker_services(services)]:
        assert "redis" in (services[name].get("depends_on") or {}), f"{name} must wait for redis"
    for name in tool_workers(services):
        assert "downstream" in services[name]["depends_on"], f"{name} must wait for downstream"
    for name in provider_workers(services):
        assert "emulator" in services[name]["depends_on"], f"{name} must wait for the emulator"
    # It calls neither: a stand-in restarting must not hold up webhook deliveries.
    assert set(services[webhooks_worker(services)]["depends_on"]) == {"redis"}


def test_app_services_share_broker_and_provider_config(services: dict[str, Any]) -> None:
    for name in ["api", "flower", *worker_services(services)]:
        env = env_of(services[name])
        assert env.get("LLM_GATEWAY_REDIS_URL") == REDIS_URL, name
        assert env.get("LLM_GATEWAY_PROVIDERS_FILE") == APP_PROVIDERS_FILE, name
        assert env.get("LLM_GATEWAY_TOOLS_FILE") == APP_TOOLS_FILE, name
        assert env.get("LLM_GATEWAY_LOG_JSON") == "true", name


def test_api_listens_on_all_interfaces_with_keys_from_env(services: dict[str, Any]) -> None:
    env = env_of(services["api"])
    assert env["LLM_GATEWAY_API_KEYS"] == "${LLM_GATEWAY_API_KEYS:-local:dev-key}"
    assert env["LLM_GATEWAY_HOST"] == "0.0.0.0"
    assert command_of(services["api"]) == ["llm-gateway", "api"]
    assert any(str(p).endswith(":8080") for p in services["api"]["ports"])


def test_every_tool_calling_worker_calls_the_tool_services_on_the_stand_in(
    services: dict[str, Any],
) -> None:
    # Provider workers run tool loops and enhancement jobs, the tools worker runs tool jobs.
    for name in tool_workers(services):
        env = env_of(services[name])
        for var in TOOL_SERVICE_URL_VARS:
            assert env.get(var) == DOWNSTREAM_URL, f"{name}: {var} must point at the stand-in"


def test_every_provider_worker_calls_the_emulator_for_its_own_instance(
    services: dict[str, Any], provider_instances: dict[str, ProviderInstance]
) -> None:
    # Every provider URL of the instance (endpoint, IAM / token URL) is overridden, so no
    # worker of the local stack calls a real provider whatever keys the shell holds.
    for name, queue in provider_workers(services).items():
        instance = provider_instances[queue.removeprefix("llm.")]
        env = env_of(services[name])
        for var in sorted(instance.url_vars):
            assert env.get(var, "").startswith(EMULATOR_URL), f"{name}: {var} -> {env.get(var)}"


def test_provider_workers_take_their_credentials_from_env_with_throwaway_defaults(
    services: dict[str, Any], provider_instances: dict[str, ProviderInstance]
) -> None:
    for name, queue in provider_workers(services).items():
        env = env_of(services[name])
        for var in sorted(provider_instances[queue.removeprefix("llm.")].secret_env):
            # ${VAR:-default}: a real value from the shell or .env wins; the stack starts
            # without any (the emulator accepts the defaults).
            assert env.get(var, "").startswith("${" + var + ":-"), f"{name}: {var} from env"


def test_provider_credentials_reach_their_own_worker_only(
    services: dict[str, Any],
    provider_instances: dict[str, ProviderInstance],
    provider_secret_env_names: set[str],
) -> None:
    workers = provider_workers(services)
    for name, service in services.items():
        own = provider_instances[workers[name].removeprefix("llm.")] if name in workers else None
        allowed = own.secret_env if own else frozenset()
        leaked = (provider_secret_env_names & set(env_of(service))) - allowed
        assert not leaked, f"{name} receives provider secrets {sorted(leaked)}"
        assert "env_file" not in service, f"{name}: env_file could carry provider secrets"


def test_provider_workers_get_no_other_instances_settings(
    services: dict[str, Any],
    provider_instances: dict[str, ProviderInstance],
    provider_setting_env_names: set[str],
) -> None:
    # Endpoints, projects and key-file paths too: each worker is configured for its own
    # instance only (the tools worker for none).
    for name, queue in worker_services(services).items():
        own = None if queue in SERVICE_QUEUES else provider_instances[queue.removeprefix("llm.")]
        allowed = (set(own.settings) | own.secret_env) if own else set()
        foreign = (provider_setting_env_names & set(env_of(services[name]))) - allowed
        assert not foreign, f"{name} receives other instances' settings {sorted(foreign)}"


def test_api_reaches_the_servers_it_discovers_models_on_and_nothing_else(
    services: dict[str, Any],
    provider_instances: dict[str, ProviderInstance],
    provider_setting_env_names: set[str],
) -> None:
    # The API routes by configuration alone, except that it asks servers with
    # discover_models (Ollama) for their models; that needs their URL, not credentials.
    discovering = [i for i in provider_instances.values() if i.discovers_models]
    urls = {var for inst in discovering for var in inst.url_vars}
    env = env_of(services["api"])
    for var in sorted(urls):
        assert env.get(var, "").startswith(EMULATOR_URL), f"api: {var} -> {env.get(var)}"
    extra = (provider_setting_env_names & set(env)) - urls
    assert not extra, f"api receives provider settings {sorted(extra)}"
    assert not provider_setting_env_names & set(env_of(services["flower"]))


def test_key_file_workers_write_throwaway_key_files_before_starting(
    services: dict[str, Any], provider_instances: dict[str, ProviderInstance], tmp_path: Path
) -> None:
    # Vertex AI and OCI read key files: their workers generate ones the emulator accepts
    # (emulator.local_env) in their own /tmp, then exec the Celery command unchanged. The
    # entrypoint is run here, against a temporary directory.
    for name, queue in provider_workers(services).items():
        instance = provider_instances[queue.removeprefix("llm.")]
        service = services[name]
        if not instance.mounted_files:
            assert "entrypoint" not in service, f"{name} needs no key files"
            continue
        env = env_of(service)
        paths = []
        for key_file in instance.mounted_files:
            assert key_file.var, f"{name}: {key_file.path} cannot be moved by a variable"
            path = PurePosixPath(env.get(key_file.var, ""))
            assert path.is_relative_to("/tmp"), f"{name}: {key_file.var}={path}"
            assert path.name == PurePosixPath(key_file.path).name, f"{name}: {path}"
            paths.append(path)
        entrypoint = command_of({"command": service.get("entrypoint")})
        assert entrypoint[:2] == ["sh", "-c"], f"{name}: no key-file entrypoint"
        # Compose's $$ escape, this interpreter, and a scratch directory for /tmp.
        # /tmp first: this interpreter may itself live under /tmp (a CI checkout).
        script = entrypoint[2].replace("$$", "$").replace("/tmp/", f"{tmp_path / name}/")
        script = script.replace("python ", f"{sys.executable} ", 1)
        assert EMULATOR_URL in script, f"{name}: the keys are not for the emulator"
        result = subprocess.run(
            ["sh", "-c", script, *entrypoint[3:], "echo", "command ran"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert result.stdout.strip() == "command ran", f"{name}: the command was not exec'd"
        for path in paths:
            local = tmp_path / name / path.relative_to("/tmp")
            assert local.is_file(), f"{name}: the entrypoint does not write {path}"


def test_deployed_gateway_variables_are_settings() -> None:
    for var in (
        *WEBHOOK_SECRET_VARS,
        OUTBOUND_ALLOWLIST_VAR,
        PUBLIC_URL_VAR,
        *TOOL_SERVICE_URL_VARS,
    ):
        settings_field(var)


def test_webhooks_worker_gets_no_provider_settings_no_tool_urls_and_no_provider_keys(
    services: dict[str, Any], provider_setting_env_names: set[str]
) -> None:
    # It only calls client receivers: nothing of the providers or the tool services.
    env = set(env_of(services[webhooks_worker(services)]))
    assert not env & provider_setting_env_names, sorted(env & provider_setting_env_names)
    assert not env & set(TOOL_SERVICE_URL_VARS), sorted(env & set(TOOL_SERVICE_URL_VARS))


def test_webhook_secrets_reach_the_api_and_the_webhooks_worker_only(
    services: dict[str, Any],
) -> None:
    api, worker = env_of(services["api"]), env_of(services[webhooks_worker(services)])
    for var in WEBHOOK_SECRET_VARS:
        # From the shell or .env, the same for both: the API hands out the secrets the
        # worker signs with.
        assert api.get(var, "").startswith("${" + var + ":-"), f"api: {var} from env"
        assert worker.get(var) == api[var], f"webhooks worker: {var} differs from the API's"
    assert not webhook_secret_leaks(services), webhook_secret_leaks(services)


def test_webhook_secret_check_catches_a_secret_given_to_another_worker(
    services: dict[str, Any],
) -> None:
    leaky = copy.deepcopy(services)
    leaky["worker-tools"]["environment"][WEBHOOK_SECRET_VARS[1]] = "key"
    assert webhook_secret_leaks(leaky) == [f"worker-tools: {WEBHOOK_SECRET_VARS[1]}"]


def test_local_webhook_secret_defaults_give_every_tenant_a_secret(services: dict[str, Any]) -> None:
    # Started without any webhook variable set, every local tenant can ask for webhooks.
    env = {k: default_of(v) for k, v in env_of(services["api"]).items()}
    secrets = webhook_secrets_for(env)
    assert secrets.for_tenant("local") and secrets.for_tenant("another-tenant")


def test_api_and_every_worker_share_one_outbound_allowlist(services: dict[str, Any]) -> None:
    # The API checks client URLs at submission and the workers again at connect time: a
    # different list would accept URLs the workers then refuse, or the reverse.
    readers = ["api", *worker_services(services)]
    values = {name: env_of(services[name]).get(OUTBOUND_ALLOWLIST_VAR, "") for name in readers}
    assert set(values.values()) == {"${" + OUTBOUND_ALLOWLIST_VAR + ":-}"}, values
    # Unset: nothing private is allowed.
    policy = OutboundPolicy.from_allowlist(default_of(values["api"]))
    assert not (policy.hosts or policy.host_suffixes or policy.networks)


def test_webhooks_worker_links_results_to_the_published_api(services: dict[str, Any]) -> None:
    url = env_of(services[webhooks_worker(services)]).get(PUBLIC_URL_VAR, "")
    assert url.startswith("${" + PUBLIC_URL_VAR + ":-"), f"{PUBLIC_URL_VAR} from env"
    published = [str(p) for p in services["api"]["ports"] if str(p).endswith(":8080")]
    assert published == ["${LLM_GATEWAY_PUBLISHED_PORT:-8080}:8080"], published
    assert default_of(url) == "http://localhost:8080"


def test_flower_uses_basic_auth_from_env(services: dict[str, Any]) -> None:
    flower = services["flower"]
    assert command_of(flower)[:4] == ["celery", "-A", "workers", "flower"]
    assert "--port=5555" in command_of(flower)
    assert env_of(flower)["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH")


def test_emulator_listens_on_8090_with_latency(services: dict[str, Any]) -> None:
    command = command_of(services["emulator"])
    assert command[:2] == ["llm-gateway", "emulator"]
    assert option(command, "--host") == "0.0.0.0"
    assert option(command, "--port") == "8090"
    assert option(command, "--latency-ms") == "50"
    probe = command_of({"command": services["emulator"]["healthcheck"]["test"]})
    assert "/_emulator/health" in " ".join(probe)


def test_downstream_stand_in_listens_on_8091_with_a_health_probe(services: dict[str, Any]) -> None:
    command = command_of(services["downstream"])
    assert command[:2] == ["llm-gateway", "downstream"]
    assert option(command, "--host") == "0.0.0.0"
    assert option(command, "--port") == DOWNSTREAM_URL.rsplit(":", 1)[1]
    probe = command_of({"command": services["downstream"]["healthcheck"]["test"]})
    assert "http://127.0.0.1:8091/health" in " ".join(probe)


OVERRIDE_FILES = sorted(REPO_ROOT.glob("docker-compose.*.yml"))


def test_there_are_dev_and_test_override_files() -> None:
    assert {p.name for p in OVERRIDE_FILES} == {"docker-compose.dev.yml", "docker-compose.test.yml"}


@pytest.mark.parametrize("path", OVERRIDE_FILES, ids=lambda p: p.name)
def test_override_files_validate_and_override_known_services(
    path: Path, services: dict[str, dict[str, Any]], validator: jsonschema.Draft7Validator
) -> None:
    override = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(override)]
    assert not errors, f"{path.name} violates the Compose Specification:\n" + "\n".join(errors)
    for name, service in override["services"].items():
        # A service the base lacks must be whole (an image and a command), not a fragment.
        if name not in services:
            assert {"image", "command"} <= set(service), f"{path.name}: {name} is a fragment"
        build = service.get("build") or {}
        if build:
            assert (REPO_ROOT / build["dockerfile"]).is_file(), f"{name}: {build}"


def test_dev_override_serves_the_mounted_source_with_reload() -> None:
    api = yaml.safe_load((REPO_ROOT / "docker-compose.dev.yml").read_text("utf-8"))["services"][
        "api"
    ]
    assert api["build"]["dockerfile"] == "Dockerfile.dev"
    assert "--reload" in api["command"]
    [mount] = api["volumes"]
    assert (mount["source"], mount["target"], mount["read_only"]) == (".", "/src", True)


def test_test_override_runs_a_smoke_job_per_provider_after_the_api_is_healthy() -> None:
    test = yaml.safe_load((REPO_ROOT / "docker-compose.test.yml").read_text("utf-8"))
    smoke = test["services"]["smoke"]
    assert smoke["depends_on"]["api"]["condition"] == "service_healthy"
    command = smoke["command"]
    assert command[:2] == ["python", "-c"]
    compile(command[2], "smoke", "exec")  # a syntax error would only show in the container
    assert "run_demo" in command[2]
    assert all(s.get("restart") == "no" for s in test["services"].values())
