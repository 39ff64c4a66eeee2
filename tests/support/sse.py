"""A small server-sent-events reader for tests: the raw fields, comments included, so
tests can assert on ids, event names and keep-alive comments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class Event:
    id: str | None
    event: str | None
    data: str | None
    comment: str | None

    def json(self) -> Any:
        assert self.data is not None
        return json.loads(self.data)


def events(response: httpx.Response) -> Iterator[Event]:
    """The events of a streamed response, as they arrive."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if fields:
                yield Event(fields.get("id"), fields.get("event"), fields.get("data"), None)
            fields = {}
            continue
        if line.startswith(":"):
            yield Event(None, None, None, line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        fields[name] = f"{fields[name]}\n{value}" if name == "data" and "data" in fields else value
    if fields:
        yield Event(fields.get("id"), fields.get("event"), fields.get("data"), None)
