"""The SSE renderings of a job stream: OpenAI chunks (``/v1/chat/completions``) and
named job events (``/v1/jobs/{id}/stream``), both with keep-alive comments; and what
Anthropic's events (``api.anthropic.stream``) share with them.

A response's status line waits for the job's first events, or a keep-alive interval: a job
that fails before producing anything (an unknown model upstream, a rejected request) is
then answered with its real status and the error shape rather than a 200 with an error
inside. The route returns the response at once, though, so everything else a stream needs
(FastAPI's return path, sse-starlette's tasks) is set up while the job waits in its queue,
not after its first token (``HeldStartResponse``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import anyio
import orjson
import structlog
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from api.services import ApiServices
from api.streaming.follow import Followed, KeepAlive, follow_job
from api.streaming.openai_chunks import ChatChunks
from api.sync_jobs import JOB_ID_HEADER, NO_SDK_RETRY, job_error
from gateway.errors import GatewayError
from tasks.jobs.record import JobRecord, JobStatus
from tasks.jobs.stream import StreamEntry

log = structlog.get_logger(__name__)

# sse-starlette's own pings carry nothing; the followers send keep-alives that say where
# the job is, so its pings are off (0: no ping task at all).
_NO_PING = 0
_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
# A stream's own headers (ours and sse-starlette's), which an answer sent instead must not get.
_STREAM_ONLY_HEADERS = frozenset(
    {"cache-control", "x-accel-buffering", "connection", "content-type", "content-length"}
)


class AnswerInstead(Exception):
    """Raised by a stream's events before the first one: answer with ``response`` instead
    of a stream (the job failed before producing anything)."""

    def __init__(self, response: Response) -> None:
        super().__init__("answer instead of streaming")
        self.response = response


class HeldStartResponse(EventSourceResponse):
    """An SSE response whose status line and headers are held back until its first event
    (or keep-alive) is sent with them; until then its events may raise ``AnswerInstead``
    to send another response in its place. Returned by the route before the job's first
    event, so its set-up is off the time to first token."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        held: list[Message] = []

        async def send_held(message: Message) -> None:
            if message["type"] == "http.response.start":
                held.append(message)
                return
            if held:
                await send(held.pop())
            await send(message)

        try:
            await super().__call__(scope, receive, send_held)
        except AnswerInstead as answer:
            instead = answer.response
            # What the route added (the cache's verdict) goes with the answer too.
            for name, value in self.headers.items():
                if name not in _STREAM_ONLY_HEADERS and name not in instead.headers:
                    instead.headers[name] = value
            await instead(scope, receive, send)


def _data(payload: object) -> str:
    return payload if isinstance(payload, str) else orjson.dumps(payload).decode()


async def first_item(items: AsyncGenerator[Followed, None]) -> Followed | None:
    try:
        return await anext(items)
    except StopAsyncIteration:
        return None


def sse_response(
    services: ApiServices,
    record: JobRecord,
    events: AsyncIterator[ServerSentEvent],
    cancel_on_disconnect: bool,
) -> HeldStartResponse:
    async def guarded() -> AsyncIterator[ServerSentEvent]:
        finished = False
        try:
            async for event in events:
                yield event
            finished = True
        except AnswerInstead:
            finished = True
            raise
        finally:
            if not finished and cancel_on_disconnect:
                await _cancel(services, record)

    headers = {**_HEADERS, JOB_ID_HEADER: record.id, **NO_SDK_RETRY}
    return HeldStartResponse(guarded(), headers=headers, ping=_NO_PING)


async def _cancel(services: ApiServices, record: JobRecord) -> None:
    # The client has gone: this runs inside a cancelled scope, so it must be shielded.
    with anyio.CancelScope(shield=True):
        try:
            await services.store.cancel(record.id, record.tenant)
            log.info("stream_client_gone", job_id=record.id, cancelled=True)
        except GatewayError:
            pass  # already finished


def chat_stream(
    services: ApiServices,
    record: JobRecord,
    *,
    include_usage: bool,
    cancel_on_disconnect: bool,
) -> Response:
    """``record`` (a streaming completion, just submitted) as OpenAI chunks; a job that
    fails before producing anything as its error (``job_error``)."""
    items = follow_job(services, record)
    chunks = ChatChunks(
        completion_id=f"chatcmpl-{record.id.removeprefix('job_')}",
        created=int(record.created_at),
        model=record.model or "",
        include_usage=include_usage,
        hold_tool_calls=runs_gateway_tools(services, record),
    )

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            item = await first_or_answer(services, record, items, job_error)
            while item is not None:
                if isinstance(item, KeepAlive):
                    yield ServerSentEvent(comment=item.comment)
                else:
                    for entry in item:
                        async for event in _chat_events(services, record, chunks, entry):
                            yield event
                        if chunks.ended:
                            return
                item = await first_item(items)
        finally:
            await items.aclose()

    return sse_response(services, record, events(), cancel_on_disconnect)


async def first_or_answer(
    services: ApiServices,
    record: JobRecord,
    items: AsyncGenerator[Followed, None],
    failed: Callable[[JobRecord], Response],
) -> Followed | None:
    """A stream's first item; ``AnswerInstead(failed(record))`` when it is the end of a job
    that did not succeed (nothing was produced: its error is the answer)."""
    first = await first_item(items)
    if isinstance(first, list) and first and first[0].type == "done":
        done = await services.store.get(record.id, record.tenant)
        if done.status is not JobStatus.SUCCEEDED:
            raise AnswerInstead(failed(done))
    return first


def runs_gateway_tools(services: ApiServices, record: JobRecord) -> bool:
    """Whether the job may run a tool loop: its request names the gateway's own tools."""
    tools = record.request.get("tools") or []
    return any(
        isinstance(t, dict)
        and isinstance(t.get("function"), dict)
        and t["function"].get("name") in services.tools
        for t in tools
    )


async def _chat_events(
    services: ApiServices, record: JobRecord, chunks: ChatChunks, entry: StreamEntry
) -> AsyncIterator[ServerSentEvent]:
    if entry.type == "done":
        done = await services.store.get(record.id, record.tenant)
        for payload in chunks.finish(done):
            yield ServerSentEvent(data=_data(payload), id=entry.id)
        return
    released = chunks.on_event(entry)
    if released is None:
        yield ServerSentEvent(data=_data(chunks.restarted(record.id)), id=entry.id)
        return
    for payload in released:
        yield ServerSentEvent(data=_data(payload), id=entry.id)


async def job_stream(
    services: ApiServices, record: JobRecord, after: str, *, cancel_on_disconnect: bool
) -> Response:
    """Any job's stream as named events (``event: text``, ``event: done``, ...), from after
    event ``after``; the ``done`` event carries the outcome."""
    items = follow_job(services, record, after)

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            async for item in items:
                if isinstance(item, KeepAlive):
                    yield ServerSentEvent(comment=item.comment)
                    continue
                for entry in item:
                    data: dict[str, Any] = entry.event
                    if entry.type == "done":
                        data = await _outcome(services, record, data)
                    yield ServerSentEvent(data=_data(data), id=entry.id, event=entry.type)
        finally:
            await items.aclose()

    return sse_response(services, record, events(), cancel_on_disconnect)


async def _outcome(
    services: ApiServices, record: JobRecord, event: dict[str, Any]
) -> dict[str, Any]:
    """The ``done`` event with the job's outcome from its record."""
    done = await services.store.get_any(record.id)
    if done is None:
        return event
    public = done.public()
    return {
        **event,
        **{k: public[k] for k in ("status", "result", "error", "usage", "cost_usd", "attempts")},
    }
