"""The TTL a presign may ask for, and the operation names."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidRequest
from storage.config import PresignConfig
from storage.presign import Operation, checked_ttl, parse_operation

BOUNDS = PresignConfig(default_ttl=3600, min_ttl=300, max_ttl=86400)


def test_no_ttl_takes_the_routes_default() -> None:
    assert checked_ttl(None, BOUNDS) == 3600


@pytest.mark.parametrize("ttl", [300, 3600, 86400])
def test_a_ttl_within_the_bounds_is_kept(ttl: int) -> None:
    assert checked_ttl(ttl, BOUNDS) == ttl


@pytest.mark.parametrize(
    ("ttl", "message"),
    [
        (299, "below this route's min_ttl of 300 seconds"),
        (0, "min_ttl of 300"),
        (-1, "min_ttl of 300"),
        (86401, "above this route's max_ttl of 86400 seconds"),
    ],
)
def test_a_ttl_outside_the_bounds_is_a_400_naming_the_bound(ttl: int, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as raised:
        checked_ttl(ttl, BOUNDS)
    assert raised.value.param == "ttl" and raised.value.status_code == 400


def test_operations_are_get_and_put_in_the_seeds_names() -> None:
    assert parse_operation("get") is Operation.GET and Operation.GET.value == "GetObject"
    assert parse_operation("PUT") is Operation.PUT and Operation.PUT.method == "PUT"
    with pytest.raises(InvalidRequest) as raised:
        parse_operation("delete")
    assert raised.value.param == "operation"
