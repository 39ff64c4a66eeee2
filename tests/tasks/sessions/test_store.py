"""Session stores (``tasks.sessions.store``) against a real Redis: the storage layout the job
finish script relies on, expiry, tenancy, context merges, and Redis failures as 503s."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from gateway import keys
from gateway.errors import ServiceUnavailable, SessionNotFound
from tasks.sessions.record import Session
from tasks.sessions.store import SessionStore, SyncSessionStore
from tests.support.conversations import HISTORY
from tests.support.processes import RedisServer, free_port

T = TypeVar("T")


@pytest.fixture
def db_url(redis_server: RedisServer, isolated_redis: redis.Redis) -> str:
    """The URL of ``isolated_redis``'s database, for async clients."""
    return redis_server.url.rsplit("/", 1)[0] + "/1"


def run(url: str, use: Callable[[SessionStore], Awaitable[T]]) -> T:
    """Run ``use`` against a ``SessionStore`` on its own async client and event loop."""

    async def scenario() -> T:
        client = AsyncRedis.from_url(url, socket_connect_timeout=1)
        try:
            return await use(SessionStore(client))
        finally:
            await client.aclose()

    return asyncio.run(scenario())


async def create(store: SessionStore, tenant: str = "acme", **overrides: Any) -> Session:
    fields: dict[str, Any] = {"ttl_seconds": 600, "context_budget_tokens": 4000, **overrides}
    return await store.create(tenant, **fields)


def test_create_then_get_round_trips(db_url: str) -> None:
    async def scenario(store: SessionStore) -> tuple[Session, Session]:
        created = await create(
            store,
            system="You are terse.",
            context={"user": {"name": "Ada"}, "locale": "en"},
            metadata={"team": "search"},
            messages=HISTORY,
        )
        return created, await store.get(created.id, "acme")

    created, loaded = run(db_url, scenario)
    assert re.fullmatch(r"sess_[0-9a-f]{32}", created.id)
    assert loaded.id == created.id
    assert loaded.tenant == "acme"
    assert loaded.system == "You are terse."
    assert loaded.context == {"user": {"name": "Ada"}, "locale": "en"}
    assert loaded.metadata == {"team": "search"}
    assert loaded.context_budget_tokens == 4000
    assert loaded.ttl_seconds == 600
    assert loaded.messages == HISTORY
    assert loaded.created_at == pytest.approx(created.created_at, abs=1e-6)
    assert loaded.expires_at == pytest.approx(created.created_at + 600, abs=2)


def test_public_view_has_no_tenant_and_iso_times(db_url: str) -> None:
    session = run(db_url, lambda store: create(store, messages=HISTORY[:1]))
    public = session.public()
    assert set(public) == {
        "id",
        "object",
        "created_at",
        "expires_at",
        "ttl_seconds",
        "system",
        "context",
        "context_budget_tokens",
        "metadata",
        "message_count",
        "messages",
    }
    assert public["object"] == "session"
    assert public["message_count"] == 1
    assert public["system"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", public["created_at"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", public["expires_at"])


def test_storage_layout_is_the_finish_scripts_contract(
    db_url: str, isolated_redis: redis.Redis
) -> None:
    session = run(
        db_url, lambda store: create(store, context={"k": [1, 2]}, messages=HISTORY, ttl_seconds=90)
    )
    raw: dict[bytes, bytes] = isolated_redis.hgetall(keys.session(session.id))  # type: ignore[assignment]
    header = {k.decode(): v.decode() for k, v in raw.items()}
    assert header == {
        "tenant": "acme",
        "created_at": repr(session.created_at),
        "ttl_seconds": "90",
        "context_budget_tokens": "4000",
        "metadata": "{}",
    }  # no "system" field when there is none
    stored = isolated_redis.lrange(keys.session_messages(session.id), 0, -1)
    assert [json.loads(m) for m in stored] == HISTORY
    assert isolated_redis.hgetall(keys.session_context(session.id)) == {b"k": b"[1,2]"}
    for key in (
        keys.session(session.id),
        keys.session_messages(session.id),
        keys.session_context(session.id),
    ):
        assert 85_000 < isolated_redis.pttl(key) <= 90_000


def test_empty_session_has_only_its_header(db_url: str, isolated_redis: redis.Redis) -> None:
    async def scenario(store: SessionStore) -> Session:
        return await store.get((await create(store)).id, "acme")

    session = run(db_url, scenario)
    assert session.messages == []
    assert session.context == {}
    assert not isolated_redis.exists(keys.session_messages(session.id))
    assert not isolated_redis.exists(keys.session_context(session.id))


def test_session_expires_after_its_ttl(db_url: str, isolated_redis: redis.Redis) -> None:
    session = run(db_url, lambda store: create(store, ttl_seconds=1, messages=HISTORY))
    assert SyncSessionStore(isolated_redis).load(session.id, "acme") is not None
    time.sleep(1.2)

    async def scenario(store: SessionStore) -> bool:
        with pytest.raises(SessionNotFound, match=r"^no session "):
            await store.get(session.id, "acme")
        return await store.exists(session.id, "acme")

    assert run(db_url, scenario) is False
    assert SyncSessionStore(isolated_redis).load(session.id, "acme") is None
    assert not isolated_redis.exists(keys.session_messages(session.id))


def test_another_tenant_cannot_see_change_or_delete_a_session(db_url: str) -> None:
    async def scenario(store: SessionStore) -> Session:
        session = await create(store, context={"secret": "x"})
        with pytest.raises(SessionNotFound, match=r"^no session ") as missing:
            await store.get(session.id, "intruder")
        assert missing.value.status_code == 404
        assert missing.value.param == "session_id"
        with pytest.raises(SessionNotFound, match=r"^no session "):
            await store.delete(session.id, "intruder")
        with pytest.raises(SessionNotFound, match=r"^no session "):
            await store.update_context(session.id, "intruder", {"secret": None, "new": 1})
        assert not await store.exists(session.id, "intruder")
        assert await store.exists(session.id, "acme")
        return await store.get(session.id, "acme")

    assert run(db_url, scenario).context == {"secret": "x"}


def test_other_tenant_and_missing_session_errors_read_the_same(db_url: str) -> None:
    async def scenario(store: SessionStore) -> tuple[dict[str, Any], dict[str, Any]]:
        session = await create(store)
        errors = []
        for session_id, tenant in ((session.id, "intruder"), ("sess_" + "0" * 32, "acme")):
            with pytest.raises(SessionNotFound, match=r"^no session ") as caught:
                await store.get(session_id, tenant)
            errors.append(caught.value.to_dict())
        return errors[0], errors[1]

    theirs, missing = run(db_url, scenario)
    assert theirs["type"] == missing["type"] == "session_not_found"
    assert "intruder" not in theirs["message"] and "acme" not in theirs["message"]


def test_delete_removes_every_key(db_url: str, isolated_redis: redis.Redis) -> None:
    async def scenario(store: SessionStore) -> str:
        session = await create(store, context={"a": 1}, messages=HISTORY)
        await store.delete(session.id, "acme")
        with pytest.raises(SessionNotFound, match=r"^no session "):
            await store.delete(session.id, "acme")
        with pytest.raises(SessionNotFound, match=r"^no session "):
            await store.get(session.id, "acme")
        return session.id

    session_id = run(db_url, scenario)
    assert isolated_redis.keys(f"{keys.session(session_id)}*") == []


def test_context_update_merges_and_null_deletes(db_url: str) -> None:
    async def scenario(store: SessionStore) -> tuple[Session, Session]:
        session = await create(store, context={"a": 1, "b": {"x": [1]}, "c": "keep"})
        merged = await store.update_context(
            session.id, "acme", {"a": 2, "b": None, "d": {"nested": True}, "gone": None}
        )
        emptied = await store.update_context(session.id, "acme", {"a": None, "c": None, "d": None})
        return merged, emptied

    merged, emptied = run(db_url, scenario)
    assert merged.context == {"a": 2, "c": "keep", "d": {"nested": True}}
    assert emptied.context == {}


def test_context_update_renews_every_expiry(db_url: str, isolated_redis: redis.Redis) -> None:
    session = run(db_url, lambda store: create(store, ttl_seconds=100, messages=HISTORY))
    every_key = [
        keys.session(session.id),
        keys.session_messages(session.id),
        keys.session_context(session.id),
    ]
    for key in every_key[:2]:
        isolated_redis.pexpire(key, 5_000)
    run(db_url, lambda store: store.update_context(session.id, "acme", {"n": 1}))
    for key in every_key:
        assert 95_000 < isolated_redis.pttl(key) <= 100_000


def test_context_update_of_missing_session_creates_nothing(
    db_url: str, isolated_redis: redis.Redis
) -> None:
    async def scenario(store: SessionStore) -> None:
        with pytest.raises(SessionNotFound, match=r"^no session "):
            await store.update_context("sess_missing", "acme", {"a": 1})

    run(db_url, scenario)
    assert isolated_redis.keys("llmgw:session:*") == []


def test_sync_load_matches_async_get(db_url: str, isolated_redis: redis.Redis) -> None:
    async def scenario(store: SessionStore) -> Session:
        created = await create(store, system="sys", context={"k": "v"}, messages=HISTORY)
        return await store.get(created.id, "acme")

    via_api = run(db_url, scenario)
    sync = SyncSessionStore(isolated_redis)
    loaded = sync.load(via_api.id, "acme")
    assert loaded is not None
    assert loaded.messages == via_api.messages
    assert loaded.context == via_api.context
    assert loaded.system == "sys"
    assert loaded.context_budget_tokens == via_api.context_budget_tokens
    assert sync.load(via_api.id, "intruder") is None
    assert sync.load("sess_" + "f" * 32, "acme") is None


def test_sync_load_reads_str_replies_too(db_url: str, redis_server: RedisServer) -> None:
    session = run(db_url, lambda store: create(store, context={"k": "v"}, messages=HISTORY))
    client = redis.Redis.from_url(db_url, decode_responses=True)
    try:
        loaded = SyncSessionStore(client).load(session.id, "acme")
    finally:
        client.close()
    assert loaded is not None
    assert loaded.messages == HISTORY
    assert loaded.context == {"k": "v"}


def test_session_ids_are_unique(db_url: str) -> None:
    async def scenario(store: SessionStore) -> set[str]:
        return {(await create(store)).id for _ in range(50)}

    assert len(run(db_url, scenario)) == 50


def test_redis_down_is_service_unavailable() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"

    async def scenario(store: SessionStore) -> list[int]:
        statuses = []
        attempts: list[Callable[[], Awaitable[object]]] = [
            lambda: create(store),
            lambda: store.get("sess_" + "f" * 32, "acme"),
            lambda: store.exists("sess_" + "f" * 32, "acme"),
            lambda: store.delete("sess_" + "f" * 32, "acme"),
            lambda: store.update_context("sess_" + "f" * 32, "acme", {"a": 1}),
        ]
        for attempt in attempts:
            with pytest.raises(ServiceUnavailable) as caught:
                await attempt()
            statuses.append(caught.value.status_code)
        return statuses

    assert run(dead, scenario) == [503] * 5
