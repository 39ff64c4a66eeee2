"""The storage routes the API serves: one per instance of the storage file, each with its
access policy and its store, built on first use (so an API with storage configured starts
as fast as one without, and a store's SDK is imported only where a route uses it).

A route whose store cannot be built (its type's SDK is not installed, no credentials were
found) answers 503 saying why, and is tried again on the next request."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import structlog

from gateway.credentials import CredentialResolver, Credentials, CredentialsMissing
from gateway.errors import StorageRouteNotFound, StorageUnavailable
from storage.access import AccessPolicy
from storage.backends.base import ObjectStore
from storage.config import StorageConfig, StorageInstanceConfig, StorageType

log = structlog.get_logger(__name__)

# The pyproject extra that installs every store type's SDK.
STORAGE_EXTRA = "storage"

# Credential fields each type needs when they come from env, files or Vault (any one set).
REQUIRED_FIELDS: Mapping[StorageType, Sequence[frozenset[str]]] = {
    "s3": (frozenset({"access_key_id", "secret_access_key"}),),
    "azure_blob": (frozenset({"account_key"}),),  # account_name: else from endpoint_url
    "gcs": (frozenset({"service_account_json"}),),
}


def build_store(config: StorageInstanceConfig, credentials: Credentials) -> ObjectStore:
    """The store for ``config``; ``ImportError`` when its SDK is not installed."""
    match config.type:
        case "s3":
            from storage.backends.s3 import S3Store

            return S3Store(config, credentials)
        case "azure_blob":
            from storage.backends.azure_blob import AzureBlobStore

            return AzureBlobStore(config, credentials)
        case "gcs":
            from storage.backends.gcs import GcsStore

            return GcsStore(config, credentials)


@dataclass
class StorageRoute:
    config: StorageInstanceConfig
    policy: AccessPolicy
    resolver: CredentialResolver
    _store: ObjectStore | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.config.route_name

    def store(self) -> ObjectStore:
        """The route's store, built once (blocking: call it off the event loop)."""
        with self._lock:
            if self._store is None:
                self._store = self._build()
            return self._store

    def close(self) -> None:
        """Close the store's connections if it was built; a close that fails is logged, so
        one route cannot keep the others' from closing."""
        with self._lock:
            store, self._store = self._store, None
        if store is None:
            return
        try:
            store.close()
        except Exception as exc:
            log.warning("storage_close_failed", route=self.name, error=type(exc).__name__)

    def _build(self) -> ObjectStore:
        config = self.config
        try:
            # A workload_identity source is taken as found: the SDK's own chain decides,
            # and its error on first use names what was missing.
            credentials = self.resolver.resolve(
                config.credentials, REQUIRED_FIELDS[config.type], ambient=lambda: True
            )
        except CredentialsMissing as exc:
            log.warning("storage_route_disabled", route=self.name, reason=str(exc))
            raise StorageUnavailable(f"storage route {self.name!r}: {exc}") from exc
        try:
            return build_store(config, credentials)
        except ImportError as exc:
            reason = (
                f"the {config.type} SDK is not installed "
                f"(pip install 'llm-gateway[{STORAGE_EXTRA}]')"
            )
            log.warning("storage_route_disabled", route=self.name, reason=reason)
            raise StorageUnavailable(f"storage route {self.name!r}: {reason}") from exc
        except Exception as exc:
            # A malformed key file or endpoint: say which route, never the secret.
            reason = credentials.redact(f"{type(exc).__name__}: {exc}")
            log.warning("storage_route_disabled", route=self.name, reason=reason)
            raise StorageUnavailable(f"storage route {self.name!r} cannot start: {reason}") from exc


@dataclass
class StorageRoutes:
    """Every configured route by name, and the threads their blocking SDK calls run in."""

    routes: dict[str, StorageRoute]
    executor: ThreadPoolExecutor

    @classmethod
    def from_config(
        cls, config: StorageConfig, threads: int, resolver: CredentialResolver | None = None
    ) -> StorageRoutes:
        resolver = resolver or CredentialResolver()
        routes = {
            name: StorageRoute(inst, AccessPolicy.from_config(inst.access), resolver)
            for name, inst in config.by_route().items()
        }
        return cls(routes, ThreadPoolExecutor(threads, thread_name_prefix="storage"))

    def route(self, name: str) -> StorageRoute:
        found = self.routes.get(name)
        if found is None:
            known = ", ".join(sorted(self.routes)) or "(none configured)"
            raise StorageRouteNotFound(f"no storage route {name!r}; routes: {known}")
        return found

    def close(self) -> None:
        """At shutdown: queued SDK calls are cancelled, then every built store closed."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        for route in self.routes.values():
            route.close()
