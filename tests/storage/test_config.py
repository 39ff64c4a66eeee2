"""The storage file: what it accepts, what it refuses at start-up, and the shipped one."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import DEFAULT_STORAGE_FILE
from storage.config import StorageFileError, load_storage

ACCESS = "access: {allowed_buckets: [rag-docs]}"


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> object:
    path = tmp_path / "storage.yaml"
    path.write_text(text)
    return load_storage(path, env or {})


def test_the_seeds_instance_loads_with_its_route_access_and_presign_bounds(
    tmp_path: Path,
) -> None:
    config = load_storage(_write(tmp_path, SEED), {})
    instance = config.by_route()["prod"]
    assert (instance.name, instance.type, instance.region) == ("s3_rag", "s3", "us-east-1")
    assert instance.access.allowed_buckets == ["rag-docs", "public-data"]
    assert instance.access.denied_prefixes == ["secret/", "internal/", "credentials/"]
    assert (instance.presign.default_ttl, instance.presign.min_ttl) == (3600, 300)
    assert instance.presign.max_ttl == 86400


SEED = """
storage_instances:
  s3_rag:
    type: s3
    region: us-east-1
    route_name: prod
    access:
      allowed_buckets: [rag-docs, public-data]
      denied_prefixes: [secret/, internal/, credentials/]
    presign: {default_ttl: 3600, max_ttl: 86400, min_ttl: 300}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "storage.yaml"
    path.write_text(text)
    return path


def test_the_route_name_defaults_to_the_instance_name(tmp_path: Path) -> None:
    config = load_storage(
        _write(tmp_path, f"storage_instances:\n  docs: {{type: gcs, {ACCESS}}}\n")
    )
    assert list(config.by_route()) == ["docs"]


def test_the_shipped_file_has_a_local_s3_route_for_rag_docs() -> None:
    config = load_storage(DEFAULT_STORAGE_FILE, {})
    local = config.by_route()["local"]
    assert local.type == "s3"
    assert local.endpoint_url == "http://127.0.0.1:5000"
    assert local.access.allowed_buckets == ["rag-docs"]


def test_no_file_means_no_routes() -> None:
    assert load_storage(None).storage_instances == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("storage_instances:\n  a: {type: ftp, " + ACCESS + "}\n", "type"),
        ("storage_instances:\n  a: {type: s3}\n", "access"),
        ("storage_instances:\n  a: {type: s3, access: {allowed_buckets: []}}\n", "allowed_buckets"),
        ("storage_instances:\n  a: {type: azure_blob, " + ACCESS + "}\n", "endpoint_url"),
        (
            "storage_instances:\n  a: {type: s3, " + ACCESS + ", presign: {min_ttl: 600, "
            "default_ttl: 60}}\n",
            "min_ttl <= default_ttl",
        ),
        (
            "storage_instances:\n  a: {type: s3, " + ACCESS + ", presign: {max_ttl: 700000}}\n",
            "max_ttl",
        ),
        (
            "storage_instances:\n  a: {type: s3, " + ACCESS + "}\n"
            "  b: {type: gcs, route_name: a, " + ACCESS + "}\n",
            "route 'a' is served by 'a' and 'b'",
        ),
        ("storage_instances:\n  A!: {type: s3, " + ACCESS + "}\n", "instance name"),
        ("storage_instances:\n  a: {type: s3, route_name: 'x/y', " + ACCESS + "}\n", "route_name"),
        ("storage_instances:\n  a: {type: s3, secret: x, " + ACCESS + "}\n", "secret"),
        ("storage_instances: [\n", "not valid YAML"),
        ("storage_instances:\n  a: {type: s3, endpoint_url: ${NOPE}, " + ACCESS + "}\n", "NOPE"),
    ],
)
def test_a_bad_file_is_refused_at_start_up_naming_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(StorageFileError, match=problem.replace("(", r"\(").replace("$", r"\$")):
        load_storage(_write(tmp_path, text), {})


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(StorageFileError, match="cannot read storage file"):
        load_storage(tmp_path / "nope.yaml", {})


def test_endpoints_come_from_the_environment(tmp_path: Path) -> None:
    text = "storage_instances:\n  a: {type: s3, endpoint_url: ${S3_URL}, " + ACCESS + "}\n"
    config = load_storage(_write(tmp_path, text), {"S3_URL": "http://minio:9000"})
    assert config.storage_instances["a"].endpoint_url == "http://minio:9000"
