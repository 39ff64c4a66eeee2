"""The pipe between an upload's body on the event loop and the store's thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from api.upload_pipe import BodyFailed, UploadPipe
from gateway.errors import InvalidRequest, PayloadTooLarge


async def _chunks(*parts: bytes, fail: BaseException | None = None) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part
    if fail is not None:
        raise fail


def test_reads_are_whole_like_a_files_and_short_only_at_the_end() -> None:
    async def run() -> list[bytes]:
        pipe = UploadPipe(asyncio.get_running_loop(), depth=2)
        feeder = asyncio.create_task(pipe.feed(b"ab", _chunks(b"cde", b"", b"fghij")))

        def reader() -> list[bytes]:
            out = [pipe.read(4), pipe.read(4), pipe.read(4), pipe.read(4)]
            assert pipe.tell() == 10 and pipe.exhausted
            return out

        reads = await asyncio.to_thread(reader)
        await feeder
        return reads

    assert asyncio.run(run()) == [b"abcd", b"efgh", b"ij", b""]


def test_read_all_returns_the_rest() -> None:
    async def run() -> bytes:
        pipe = UploadPipe(asyncio.get_running_loop(), depth=1)
        feeder = asyncio.create_task(pipe.feed(b"x" * 10, _chunks(*[b"y" * 10] * 20)))
        data = await asyncio.to_thread(pipe.read)
        await feeder
        return data

    assert asyncio.run(run()) == b"x" * 10 + b"y" * 200


def test_a_failing_body_fails_the_reader_and_keeps_the_reason() -> None:
    async def run() -> tuple[UploadPipe, BaseException | None]:
        pipe = UploadPipe(asyncio.get_running_loop(), depth=2)
        feeder = asyncio.create_task(
            pipe.feed(b"a", _chunks(b"b", fail=PayloadTooLarge("too big")))
        )

        def reader() -> BaseException | None:
            try:
                while pipe.read(1):
                    pass
            except BodyFailed as exc:
                return exc
            return None

        failure = await asyncio.to_thread(reader)
        await feeder
        return pipe, failure

    pipe, failure = asyncio.run(run())
    assert isinstance(failure, BodyFailed)
    assert isinstance(pipe.error, PayloadTooLarge) and pipe.failed


def test_at_most_depth_chunks_wait_for_a_slow_reader() -> None:
    async def run() -> int:
        pipe = UploadPipe(asyncio.get_running_loop(), depth=3)
        feeder = asyncio.create_task(pipe.feed(b"0", _chunks(*[b"1"] * 50)))
        for _ in range(20):
            await asyncio.sleep(0.01)
        waiting = pipe.received
        await asyncio.to_thread(pipe.read)
        await feeder
        return waiting

    # Nothing read yet: the feeder stopped once the queue was full.
    assert asyncio.run(run()) == 3


@pytest.mark.parametrize("depth", [1, 16])
def test_the_feeder_can_be_cancelled_while_the_queue_is_full(depth: int) -> None:
    async def run() -> bool:
        pipe = UploadPipe(asyncio.get_running_loop(), depth=depth)
        feeder = asyncio.create_task(pipe.feed(b"0", _chunks(*[b"1"] * 100)))
        await asyncio.sleep(0.05)
        feeder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await feeder
        return pipe.failed

    assert asyncio.run(run())


def test_a_client_that_stops_sending_is_abandoned_after_the_idle_time() -> None:
    async def stalled() -> AsyncIterator[bytes]:
        yield b"b"
        await asyncio.sleep(3600)  # a client holding the connection, sending nothing
        yield b"never"

    async def run() -> tuple[UploadPipe, BaseException | None]:
        pipe = UploadPipe(asyncio.get_running_loop(), depth=2, idle_seconds=0.6)
        feeder = asyncio.create_task(pipe.feed(b"a", stalled()))

        def reader() -> BaseException | None:
            try:
                while pipe.read(1):
                    pass
            except BodyFailed as exc:
                return exc
            return None

        failure = await asyncio.to_thread(reader)
        feeder.cancel()
        return pipe, failure

    pipe, failure = asyncio.run(run())
    assert isinstance(failure, BodyFailed)
    assert isinstance(pipe.error, InvalidRequest)
    assert "no body bytes arrived for 0.6 s" in pipe.error.message
