"""The local object store of ``up``: moto's S3 server behind the storage route ``local``,
with the ``rag-docs`` bucket made, so the upload → presign → ask flow works on a fresh
machine with nothing configured.

moto keeps its objects in memory: a restarted store (``up`` restarts a child that dies)
comes back empty, and ``up`` makes the bucket again. A user who points
``LLM_GATEWAY_LOCAL_S3_URL`` at a store of their own (MinIO, a real bucket) keeps it; ``up``
then starts nothing."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# The storage file's route ``local`` (config/storage.yaml) reads these.
URL_VARIABLE = "LLM_GATEWAY_LOCAL_S3_URL"
KEY_ID_VARIABLE = "LOCAL_S3_ACCESS_KEY_ID"
SECRET_VARIABLE = "LOCAL_S3_SECRET_ACCESS_KEY"  # noqa: S105 - a variable name
LOCAL_ROUTE = "local"
LOCAL_BUCKET = "rag-docs"


def moto_server() -> str | None:
    """moto's server beside this interpreter (a dev dependency), or None."""
    return shutil.which("moto_server", path=str(Path(sys.executable).parent))


def local_store_env(port: int) -> dict[str, str]:
    """The variables that point the ``local`` route at a store on ``port``. moto takes any
    credentials; these only have to be present for the route's env credential source."""
    return {
        URL_VARIABLE: f"http://127.0.0.1:{port}",
        KEY_ID_VARIABLE: "local-access-key",
        SECRET_VARIABLE: "local-secret-key",
    }


def ensure_bucket(env: Mapping[str, str], bucket: str = LOCAL_BUCKET) -> None:
    """Make ``bucket`` on the store ``env`` points at; one that already exists is fine.
    Raises ``RuntimeError`` with the store's reason when it cannot."""
    client = boto3.client(
        "s3",
        endpoint_url=env[URL_VARIABLE],
        region_name="us-east-1",
        aws_access_key_id=env.get(KEY_ID_VARIABLE),
        aws_secret_access_key=env.get(SECRET_VARIABLE),
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=5,
            read_timeout=10,
            retries={"max_attempts": 2},
        ),
    )
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        ):
            raise RuntimeError(f"cannot make bucket {bucket}: {exc}") from exc
    except BotoCoreError as exc:
        raise RuntimeError(f"cannot reach the local store: {exc}") from exc
    finally:
        client.close()
