"""``RequestLimits``' nesting count reads compact JSON text at C speed instead of walking
the value: it must agree with a plain walk whatever the strings hold (brackets, quotes,
escaped quotes, backslashes)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from gateway.errors import GatewayError, InvalidRequest
from tasks.kinds.request_limits import RequestLimits

TRICKY = ["a", "{", "}", "[", "]", '"', "\\", "\n", '\\"', '"\\', "é", "\\u"]


def walked_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((walked_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((walked_depth(v) for v in value), default=0)
    return 0


def random_value(rng: random.Random, level: int = 0) -> Any:
    roll = rng.random()
    if level > 9 or roll < 0.3:
        text = "".join(rng.choice(TRICKY) for _ in range(rng.randint(0, 6)))
        return rng.choice([1, None, 2.5, True, text])
    if roll < 0.65:
        keys = ["".join(rng.choice(TRICKY) for _ in range(3)) for _ in range(rng.randint(0, 3))]
        return {key: random_value(rng, level + 1) for key in keys}
    return [random_value(rng, level + 1) for _ in range(rng.randint(0, 3))]


def limits(depth: int) -> RequestLimits:
    return RequestLimits(
        max_messages=10,
        max_tools=10,
        max_schema_bytes=1_000_000,
        max_schema_depth=depth,
        max_content_bytes=1_000_000,
    )


@pytest.mark.parametrize("seed", range(20))
def test_the_nesting_count_agrees_with_a_walk_of_the_value(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        schema = random_value(rng)
        depth = walked_depth(schema)
        limits(depth).check_schema(schema, "s")  # exactly at the limit: accepted
        if depth > 0:
            with pytest.raises(InvalidRequest, match=f"nests deeper than {depth - 1} levels"):
                limits(depth - 1).check_schema(schema, "s")


def test_the_schema_size_is_its_compact_json() -> None:
    schema = {"type": "object", "description": "é" * 10}
    size = len(orjson.dumps(schema))
    RequestLimits(10, 10, size, 10, 1000).check_schema(schema, "s")
    with pytest.raises(InvalidRequest, match=f"the schema is {size} bytes; at most {size - 1}"):
        RequestLimits(10, 10, size - 1, 10, 1000).check_schema(schema, "s")


def test_a_documents_data_counts_toward_the_content_limit() -> None:
    small = RequestLimits(
        max_messages=10,
        max_tools=10,
        max_schema_bytes=1_000,
        max_schema_depth=8,
        max_content_bytes=100,
    )
    document = {"type": "file", "file": {"file_data": "data:application/pdf;base64," + "A" * 200}}
    request = {"model": "m", "messages": [{"role": "user", "content": [document]}]}
    with pytest.raises(GatewayError) as info:
        small.check_chat(request)
    assert info.value.status_code == 413
    assert info.value.param == "messages"
