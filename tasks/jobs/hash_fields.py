"""``HashFields``: how a record's fields are kept in a Redis hash, one string per field."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class HashFields:
    """How a record's fields are kept in a Redis hash: JSON, float, int, or plain text."""

    json: frozenset[str]
    floats: frozenset[str]
    ints: frozenset[str]

    def encode(self, name: str, value: Any) -> str:
        if name in self.json:
            return orjson.dumps(value).decode()
        if isinstance(value, StrEnum):
            return value.value
        return str(value)

    def decode(self, name: str, text: str) -> Any:
        if name in self.json:
            return orjson.loads(text)
        if name in self.floats:
            return float(text)
        if name in self.ints:
            return int(text)
        return text

    def to_redis(self, record: Any) -> dict[str, str]:
        """A slotted record's hash fields; ``None`` values are left out."""
        out: dict[str, str] = {}
        for name in record.__slots__:
            value = getattr(record, name)
            if value is not None:
                out[name] = self.encode(name, value)
        return out

    def from_redis(self, names: Collection[str], raw: Mapping[Any, Any]) -> dict[str, Any]:
        """The decoded fields of ``raw`` that are among ``names`` (others are ignored)."""
        # ``decode`` and ``text`` inlined: a job record is read on every sync request, and
        # two calls per field were a fifth of its parse (``orjson``, ``float`` and ``int``
        # take the bytes as they come).
        data: dict[str, Any] = {}
        json, floats, ints = self.json, self.floats, self.ints
        for key, value in raw.items():
            name = key.decode() if isinstance(key, bytes) else str(key)
            if name not in names:
                continue
            if name in json:
                data[name] = orjson.loads(value if isinstance(value, bytes | str) else str(value))
            elif name in floats:
                data[name] = float(value)
            elif name in ints:
                data[name] = int(value)
            else:
                data[name] = value.decode() if isinstance(value, bytes) else str(value)
        return data
