"""Redis replies decode the same from either kind of client and from Lua integers."""

from __future__ import annotations

import pytest
import redis

from gateway.redis_replies import optional_text, text


def test_bytes_str_and_integer_replies_read_as_the_same_text() -> None:
    assert [text(b"running"), text("running"), text(1)] == ["running", "running", "1"]


def test_a_nil_reply_stays_none_and_an_empty_one_is_text() -> None:
    assert [optional_text(None), optional_text(b""), optional_text(b"t1")] == [None, "", "t1"]


def test_a_real_reply_decodes_from_a_raw_and_a_decoding_client(
    isolated_redis: redis.Redis, redis_client: redis.Redis, request: pytest.FixtureRequest
) -> None:
    isolated_redis.hset("h", "tenant", "t1")
    redis_client.hset("h", "tenant", "t1")
    request.addfinalizer(lambda: redis_client.delete("h"))
    replies = [isolated_redis.hget("h", "tenant"), redis_client.hget("h", "tenant")]
    assert [text(r) for r in replies] == ["t1", "t1"]
    assert optional_text(redis_client.hget("h", "missing")) is None
