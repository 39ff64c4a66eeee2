"""The document stage runs once per job: with the cache off, a tool loop of two turns
fetches its document once, both turns carry it, and the checkpoint holds the prompt with
the document read, so a redelivered job does not fetch it again. Real Redis, a real
loopback document server, a scripted provider and a Python tool."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from gateway.outbound import OutboundPolicy
from gateway.outbound_http import guarded_client
from providers.types import DocumentPart, TextPart
from storage.config import StorageConfig
from storage.routes import StorageRoutes
from tasks.documents.cache import DocumentCache
from tasks.documents.resolver import DocumentLimits, DocumentResolver
from tasks.jobs.record import JobStatus
from tasks.jobs.sync_store import SyncJobStore
from tests.tasks.documents.conftest import DocumentServer
from tests.tasks.jobs.test_execution import ScriptedProvider, make_runner, put_job
from tests.tasks.jobs.test_execution_loops import TOOLS, calls, registry

DOCUMENT = '<document index="1" name="brief.txt">\nthe brief\'s words\n</document>'


@pytest.fixture
def resolver(isolated_redis: redis.Redis) -> Iterator[DocumentResolver]:
    http = guarded_client(OutboundPolicy.from_allowlist("localhost"), timeout=5)
    storage = StorageRoutes.from_config(StorageConfig(), threads=1)
    yield DocumentResolver(
        http=http,
        storage=storage,
        # Off: a second read would reach the server, so the count shows every read.
        cache=DocumentCache(isolated_redis, ttl_seconds=0, max_entry_bytes=1 << 20),
        limits=DocumentLimits.parse(1 << 20, "text/plain"),
    )
    http.close()
    storage.close()


def _request(server: DocumentServer) -> dict[str, Any]:
    server.documents["/brief.txt"] = ("text/plain", b"the brief's words")
    document = {"type": "document", "source": {"type": "url", "url": server.url("/brief.txt")}}
    content = [{"type": "text", "text": "Look it up."}, document]
    return {"tools": TOOLS, "messages": [{"role": "user", "content": content}]}


def test_a_tool_loop_reads_its_document_once_and_checkpoints_it(
    isolated_redis: redis.Redis, resolver: DocumentResolver, document_server: DocumentServer
) -> None:
    provider = ScriptedProvider([calls("a"), "done"])
    job_id = put_job(isolated_redis, request=_request(document_server))
    runner = make_runner(isolated_redis, provider, tools=registry(), documents=resolver)
    runner.run(job_id)
    job = SyncJobStore(isolated_redis).load(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED
    assert document_server.hits["/brief.txt"] == 1
    assert len(provider.calls) == 2
    for call in provider.calls:
        content = call.messages[0].content
        assert content == (TextPart("Look it up."), TextPart(DOCUMENT))
        assert not any(isinstance(p, DocumentPart) for p in content)
    checkpoint = json.loads(isolated_redis.hget(f"llmgw:job:{job_id}", "loop") or b"{}")
    assert checkpoint["prompt"][0]["content"][1] == {"type": "text", "text": DOCUMENT}


def test_a_redelivered_job_uses_the_checkpointed_document(
    isolated_redis: redis.Redis, resolver: DocumentResolver, document_server: DocumentServer
) -> None:
    request = _request(document_server)
    read = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look it up."},
                {"type": "text", "text": DOCUMENT},
            ],
        }
    ]
    loop = {"produced": [], "iterations": 0, "usage": {}, "calls": [], "prompt": read}
    job_id = put_job(isolated_redis, request=request, loop=loop)
    del document_server.documents["/brief.txt"]  # a fetch now would fail the job
    provider = ScriptedProvider(["done"])
    make_runner(isolated_redis, provider, tools=registry(), documents=resolver).run(job_id)
    job = SyncJobStore(isolated_redis).load(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job and job.error
    assert document_server.hits.get("/brief.txt") is None
    assert provider.calls[0].messages[0].content[1] == TextPart(DOCUMENT)
