"""Request bodies as JSON the gateway can keep: parsed strictly, and a refused value named.

Python's ``json`` (what Starlette's ``Request.json`` uses) accepts ``NaN`` and ``Infinity``,
reads ``1e400`` as infinity and integers of any size; orjson, which stores every record,
then writes the non-finite numbers as ``null`` and cannot write the large integers at all.
So a body is parsed with orjson, which refuses the non-finite ones outright, and an
integer literal too long for 64 bits (orjson would read it as an inexact float) is looked
for in the text. Either problem, or a lone surrogate, is a 400 whose ``param`` names the
field (``metadata.score``, ``request.messages[0].content``): finding it re-reads the body
with the permissive parser, which only a refused body pays for.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import orjson

from gateway.errors import InvalidRequest

# What orjson can write back: a signed or an unsigned 64-bit integer.
_INT_RANGE = (-(2**63), 2**64 - 1)
# Only an integer literal of 19 digits or more can fall outside that range. It is looked
# for as a run of 19 digits after ":", "," or "[" (whitespace removed, every digit mapped
# to "0"): translate and find run at C speed, where a regular expression over 1 MiB took
# as long as parsing it. Text inside strings can match too; it only costs a re-read.
_NUMBER_CONTEXT = bytes(
    48 if 48 <= b <= 57 else 58 if b in b":,[" else 45 if b == 45 else 120 for b in range(256)
)
_WHITESPACE = b" \t\r\n"
_LONG_INTS = (b":" + b"0" * 19, b":-" + b"0" * 19)


class _Unkeepable(Exception):
    """An integer the store could not write back exactly."""


class _NonFinite(float):
    """A number the permissive parser read as NaN or ±infinity; remembers its spelling."""

    literal: str

    def __new__(cls, literal: str) -> _NonFinite:
        value = super().__new__(cls, "nan")
        value.literal = literal
        return value


class _HugeInt(str):
    """An integer literal too long for Python to convert (over 4,300 digits)."""


def _parse_float(text: str) -> float:
    value = float(text)
    return _NonFinite(text) if math.isinf(value) else value


def _parse_int(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return _HugeInt(text)


def _checked_int(text: str) -> int:
    value = _parse_int(text)
    if not isinstance(value, int) or not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
        raise _Unkeepable
    return value


def parse_json_body(body: bytes) -> Any:
    """The body's value; ``InvalidRequest`` for a body that is not JSON or holds a value
    the gateway cannot keep exactly."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _explain(body, str(exc)) from None
    shape = body.translate(_NUMBER_CONTEXT, _WHITESPACE)
    if any(shape.find(pattern) >= 0 for pattern in _LONG_INTS):
        # orjson read any such integer as an inexact float: re-read the integers exactly,
        # and walk the value (to name the field) only if one is out of range.
        try:
            json.loads(body, parse_int=_checked_int)
        except _Unkeepable:
            _refuse_unkeepable(_lenient(body))
            raise InvalidRequest("an integer is out of range (64 bits at most)") from None
        except (ValueError, RecursionError):
            pass  # nested past Python's parser; the store refuses that depth anyway
    return value


def _lenient(body: bytes) -> Any | None:
    """The body as Python's parser reads it (None if even that fails)."""
    try:
        return json.loads(
            body, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_NonFinite
        )
    except (ValueError, RecursionError):
        return None


def _explain(body: bytes, problem: str) -> InvalidRequest:
    lenient = _lenient(body)
    if lenient is not None:
        _refuse_unkeepable(lenient)
    return InvalidRequest(f"request body is not valid JSON: {problem}")


def _refuse_unkeepable(value: Any) -> None:
    for path, leaf in _leaves(value, ""):
        problem = _problem(leaf)
        if problem:
            raise InvalidRequest(f"{path or 'body'}: {problem}", param=path or None)


def _problem(leaf: Any) -> str | None:
    if isinstance(leaf, _NonFinite):
        return f"{leaf.literal} is not allowed; numbers must be finite"
    if isinstance(leaf, _HugeInt):
        return "integer out of range (64 bits at most)"
    if isinstance(leaf, int) and not isinstance(leaf, bool):
        low, high = _INT_RANGE
        if not low <= leaf <= high:
            return "integer out of range (64 bits at most)"
    if isinstance(leaf, str) and not _encodable(leaf):
        return "string holds a lone UTF-16 surrogate (not valid Unicode)"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every scalar with its path (``a.b[2].c``); an object key is checked as a leaf of
    the object that holds it. Iterative: the depth is the client's to choose."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            children = []
            for key, child in item.items():
                if not _encodable(key):
                    yield where, key
                children.append((f"{where}.{key}" if where else key, child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", child) for i, child in reversed(list(enumerate(item))))
        else:
            yield where, item
