"""Server-sent events from the lines of a streamed HTTP body, for the adapters that speak
HTTP themselves (Vertex's ``streamGenerateContent?alt=sse``, watsonx's ``chat_stream``,
OpenAI's, Azure's and Anthropic's chat streams); the SDK-based ones use their SDK's decoder.

The parts of the format (https://html.spec.whatwg.org/multipage/server-sent-events.html)
these APIs use: ``event``, ``data`` (several lines joined with newlines) and ``id`` fields,
comment lines, and an event dispatched at a blank line. An event the body ends in the
middle of is dropped, as the format says: it never arrived whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str  # "message" when the event names none
    data: str
    id: str | None = None


def server_sent_events(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """The events of ``lines`` (without their line breaks, as ``httpx``'s ``iter_lines``
    gives them), each as soon as its blank line arrives."""
    event, data, last_id = "", list[str](), None
    for line in lines:
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data), last_id)
            event, data = "", []
            continue
        if line.startswith(":"):  # a comment (a keep-alive)
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            last_id = value
