"""Strict schema validation of everything kustomize renders, for the two newest
Kubernetes minors kubernetes-validate ships schemas for (offline): a misspelt or
misplaced field fails here, not at `kubectl apply`. Custom resources (KEDA's
ScaledObject, External Secrets' ExternalSecret and SecretStore) are checked against
the JSON schemas vendored in deploy/schemas/, made strict from the CRDs by
deploy/schemas/from_crd.py. A kind with no schema fails: nothing is skipped."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from kubernetes_validate import utils as kubernetes_validate
from packaging.version import Version

from tests.deploy.rendering import BASE, OVERLAYS, REPO_ROOT, kustomize

CRD_SCHEMAS = REPO_ROOT / "deploy" / "schemas"


def newest_minors(count: int = 2) -> list[str]:
    minors = {".".join(v.split(".")[:2]) for v in kubernetes_validate.all_versions()}
    return sorted(minors, key=Version)[-count:]


VERSIONS = newest_minors()


@functools.cache
def crd_schema(kind: str, api_version: str) -> dict[str, Any] | None:
    group, _, version = api_version.partition("/")
    path = CRD_SCHEMAS / f"{kind.lower()}-{group}-{version}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def validate(doc: dict[str, Any], version: str) -> None:
    schema = crd_schema(doc["kind"], doc["apiVersion"])
    if schema is not None:
        jsonschema.Draft202012Validator(schema).validate(doc)
        return
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        pytest.fail(f"no schema for {doc['kind']} {doc['apiVersion']}: {exc.message}")


def test_two_recent_kubernetes_minors_are_checked() -> None:
    assert len(VERSIONS) == 2 and Version(VERSIONS[0]) >= Version("1.30"), VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("target", [BASE, *OVERLAYS], ids=lambda p: p.name)
def test_rendered_manifests_validate_strictly(target: Path, version: str) -> None:
    failures = []
    for doc in kustomize(target):
        try:
            validate(doc, version)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            where = f"{doc['kind']}/{doc['metadata']['name']}"
            failures.append(f"{where}: {getattr(exc, 'message', exc)}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "mistake",
    [
        ("Deployment", ["spec", "template", "spec", "containers", 0], "imagePullPolcy"),
        ("ScaledObject", ["spec"], "minReplicas"),
        ("ExternalSecret", ["spec", "target"], "creationPolcy"),
        ("SecretStore", ["spec", "provider", "aws"], "regoin"),
    ],
    ids=lambda m: m[0],
)
def test_a_misspelt_field_fails_validation(mistake: tuple[str, list[Any], str]) -> None:
    kind, path, field = mistake
    doc = next(d for d in kustomize(OVERLAYS[-1]) if d["kind"] == kind)
    node = doc
    for step in path:
        node = node[step]
    node[field] = "x"
    with pytest.raises((kubernetes_validate.ValidationError, jsonschema.ValidationError)):
        validate(doc, VERSIONS[-1])


def test_vendored_crd_schemas_are_what_from_crd_makes_and_valid() -> None:
    for path in CRD_SCHEMAS.glob("*.json"):
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text("utf-8")))
    assert {p.name for p in CRD_SCHEMAS.glob("*.json")} == {
        "scaledobject-keda.sh-v1alpha1.json",
        "externalsecret-external-secrets.io-v1.json",
        "secretstore-external-secrets.io-v1.json",
    }
