"""Routes by name, and a route whose store cannot start: a 503 saying why, never a secret."""

from __future__ import annotations

import sys

import pytest

from gateway.credentials import CredentialResolver
from gateway.errors import StorageRouteNotFound, StorageUnavailable
from storage.config import StorageConfig
from storage.routes import StorageRoutes

CONFIG = StorageConfig.model_validate(
    {
        "storage_instances": {
            "docs": {
                "type": "s3",
                "route_name": "prod",
                "endpoint_url": "http://127.0.0.1:9",
                "credentials": [
                    {
                        "type": "env",
                        "vars": {"access_key_id": "KEY_ID", "secret_access_key": "SECRET"},
                    }
                ],
                "access": {"allowed_buckets": ["rag-docs"]},
            }
        }
    }
)


def _routes(environ: dict[str, str]) -> StorageRoutes:
    return StorageRoutes.from_config(CONFIG, threads=1, resolver=CredentialResolver(environ))


def test_an_unknown_route_names_the_known_ones() -> None:
    routes = _routes({})
    with pytest.raises(StorageRouteNotFound, match="'nowhere'; routes: prod") as raised:
        routes.route("nowhere")
    assert raised.value.status_code == 404
    routes.close()


def test_missing_credentials_make_the_route_unavailable_naming_the_sources() -> None:
    routes = _routes({})
    with pytest.raises(StorageUnavailable, match=r"route 'prod'.*env KEY_ID/SECRET"):
        routes.route("prod").store()
    routes.close()


def test_a_missing_sdk_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 now fails
    routes = _routes({"KEY_ID": "id", "SECRET": "secret-value-123456"})
    with pytest.raises(StorageUnavailable, match=r"llm-gateway\[storage\]"):
        routes.route("prod").store()
    routes.close()


def test_a_route_with_credentials_builds_its_store_once() -> None:
    routes = _routes({"KEY_ID": "id", "SECRET": "secret-value-123456"})
    route = routes.route("prod")
    assert route.store() is route.store()
    routes.close()
