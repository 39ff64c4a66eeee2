"""The local object store of ``up``: moto behind the route ``local``, its bucket made at
start and made again when a restarted store comes back empty."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from cli.local_store import LOCAL_BUCKET, URL_VARIABLE, ensure_bucket
from cli.stack import LocalStack, StackPorts
from tests.support.processes import free_port, wait_until


def _client(env: dict[str, str]) -> object:
    return boto3.client(
        "s3",
        endpoint_url=env[URL_VARIABLE],
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(s3={"addressing_style": "path"}),
    )


def test_up_points_the_local_route_at_its_own_store_unless_one_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    ports = StackPorts(8080, 8090, 5555, 8091, storage=8099)
    stack = LocalStack(ports, 0, str(tmp_path), flower=False)
    assert stack.storage_command and stack.env[URL_VARIABLE] == "http://127.0.0.1:8099"
    monkeypatch.setenv(URL_VARIABLE, "http://minio.example:9000")
    theirs = LocalStack(ports, 0, str(tmp_path), flower=False)
    # Their store is kept, and nothing is started in its place.
    assert theirs.storage_command is None
    assert theirs.env[URL_VARIABLE] == "http://minio.example:9000"


def test_a_killed_store_is_restarted_with_its_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    ports = StackPorts(free_port(), free_port(), free_port(), free_port(), storage=free_port())
    stack = LocalStack(ports, 0, str(tmp_path), flower=False)
    try:
        stack.start_storage()
        client = _client(stack.env)
        client.head_bucket(Bucket=LOCAL_BUCKET)  # type: ignore[attr-defined]
        ensure_bucket(stack.env)  # a bucket that exists already is fine
        (store,) = stack.supervisor.children
        os.kill(store.proc.pid, signal.SIGKILL)

        def bucket_back() -> bool:
            stack.tick()
            client.head_bucket(Bucket=LOCAL_BUCKET)  # type: ignore[attr-defined]
            return not stack.bucket_missing

        wait_until(bucket_back, 60, "the store's restart and its bucket")
        assert store.proc.pid != -1 and store.restarts == 1
    finally:
        stack.supervisor.stop(first=(), last=())


def test_an_unreachable_store_is_a_clear_error() -> None:
    env = {URL_VARIABLE: f"http://127.0.0.1:{free_port()}"}
    with pytest.raises(RuntimeError, match="cannot reach the local store"):
        ensure_bucket(env)
