"""The server-sent-events decoder the HTTP-speaking adapters (Vertex, watsonx) share."""

from __future__ import annotations

from providers.sse import ServerSentEvent, server_sent_events


def events(body: str) -> list[ServerSentEvent]:
    # As httpx's iter_lines gives them: \n, \r\n and \r line breaks, removed.
    return list(server_sent_events(body.splitlines()))


def test_named_and_unnamed_events_with_ids() -> None:
    body = "id: 1\nevent: message\ndata: {}\n\ndata: x\r\n\r\nevent: error\ndata: y\n\n"
    assert events(body) == [
        ServerSentEvent("message", "{}", "1"),
        ServerSentEvent("message", "x", "1"),  # the last id stays, as the format says
        ServerSentEvent("error", "y", "1"),
    ]


def test_data_lines_join_and_comments_and_empty_events_are_skipped() -> None:
    body = ": keep-alive\n\ndata: a\ndata:b\n\nevent: ping\n\n"
    assert events(body) == [ServerSentEvent("message", "a\nb")]


def test_an_event_the_body_ends_in_the_middle_of_is_dropped() -> None:
    assert events('data: whole\n\ndata: {"cut') == [ServerSentEvent("message", "whole")]
