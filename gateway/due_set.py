"""``Pumped``: what one pass over a due set (``gateway/scripts/due_set.lua``) did: how many
members it handed out, and how long until the next one falls due, so a pump can sleep
until then instead of polling an idle set every few milliseconds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pumped:
    count: int
    # Seconds until the set's next member is due (0: due already); None: the set is empty.
    next_due_seconds: float | None

    @classmethod
    def from_reply(cls, count: object, next_due_ms: object) -> Pumped:
        ms = int(str(next_due_ms))
        return cls(int(str(count)), None if ms < 0 else ms / 1000)
