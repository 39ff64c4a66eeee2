"""At shutdown every store a route built closes its SDK's connections (S3, Azure Blob and
GCS against their real local servers), so a stopping API leaves no sockets open."""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import urlparse

from gateway.credentials import CredentialResolver
from storage.config import load_storage
from storage.routes import StorageRoutes
from tests.support.stores import (
    AZURITE_KEY,
    BUCKET,
    S3_KEY_ID,
    S3_SECRET,
    GcsEmulator,
    StoreServer,
    storage_file,
)


def _established_to(port: int) -> int:
    """This process's established TCP connections to ``port`` on loopback (from /proc)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def test_closing_the_routes_closes_every_built_stores_connections(
    tmp_path: Path, moto_s3: StoreServer, azurite: StoreServer, gcs_emulator: GcsEmulator
) -> None:
    config = load_storage(
        storage_file(tmp_path / "storage.yaml", moto_s3.url, azurite.url, gcs_emulator)
    )
    environ = {
        "TEST_S3_ACCESS_KEY_ID": S3_KEY_ID,
        "TEST_S3_SECRET_ACCESS_KEY": S3_SECRET,
        "TEST_AZURE_STORAGE_KEY": AZURITE_KEY,
    }
    routes = StorageRoutes.from_config(config, threads=1, resolver=CredentialResolver(environ))
    ports = {}
    for name in ("s3", "azure", "gcs"):
        store = routes.route(name).store()
        store.put(BUCKET, f"closing/{name}.txt", io.BytesIO(b"x"), "text/plain")
        ports[name] = urlparse(
            {"s3": moto_s3.url, "azure": azurite.url, "gcs": gcs_emulator.url}[name]
        ).port
    # Azure's SDK keeps its connections for the next call: that is what close must end.
    # (moto's and the GCS emulator's servers close theirs after each response, so only
    # "none left" can be checked for those.)
    before = _established_to(ports["azure"])
    routes.close()
    # The SDK's pooled connections are closed. (One the Azure SDK keeps outside its
    # transport's pool, in a queue no client refers to any more, is left to the process's
    # exit: it cannot be reached to close.)
    assert _established_to(ports["azure"]) < before
    for name in ("s3", "gcs"):
        port = ports[name]
        assert port is not None and _established_to(port) == 0, name
    # A closed route builds a fresh store if anything still asks (nothing does at shutdown).
    assert routes.route("s3").store() is not None
    routes.close()
