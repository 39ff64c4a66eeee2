"""``ClosingStreamingResponse``: what feeds a streamed body is released however the
response ends, driven through the ASGI interface as a server would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.requests import ClientDisconnect

from api.responses import ClosingStreamingResponse

SCOPE: dict[str, Any] = {"type": "http", "asgi": {"spec_version": "2.4"}, "method": "GET"}


class Closed:
    def __init__(self) -> None:
        self.times = 0
        self.started = False

    async def close(self) -> None:
        self.times += 1

    async def body(self) -> AsyncIterator[bytes]:
        self.started = True
        yield b"one"
        yield b"two"


async def _receive_nothing() -> dict[str, Any]:
    # The client never sends anything more (no disconnect either) until cancelled.
    await asyncio.Event().wait()
    return {}


def test_a_body_sent_whole_is_closed_once() -> None:
    closed, sent = Closed(), []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    response = ClosingStreamingResponse(closed.body(), {"x": "y"}, on_close=closed.close)
    asyncio.run(response(SCOPE, _receive_nothing, send))
    assert b"".join(m.get("body", b"") for m in sent) == b"onetwo"
    assert closed.times == 1


def test_a_client_gone_before_the_first_byte_still_closes_the_source() -> None:
    closed = Closed()

    async def send(message: dict[str, Any]) -> None:
        raise OSError("client went away")  # the response start cannot even be sent

    response = ClosingStreamingResponse(closed.body(), {}, on_close=closed.close)
    with pytest.raises(ClientDisconnect):  # starlette turns the OSError into this
        asyncio.run(response(SCOPE, _receive_nothing, send))
    # The body never ran, so only the response could release what feeds it.
    assert not closed.started and closed.times == 1


def test_a_client_gone_mid_body_closes_the_source() -> None:
    closed, sent = Closed(), []

    async def send(message: dict[str, Any]) -> None:
        if message.get("body"):
            raise OSError("client went away")
        sent.append(message)

    response = ClosingStreamingResponse(closed.body(), {}, on_close=closed.close)
    with pytest.raises(ClientDisconnect):  # starlette turns the OSError into this
        asyncio.run(response(SCOPE, _receive_nothing, send))
    assert closed.started and closed.times == 1
