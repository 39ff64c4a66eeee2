"""A completion job's stream as OpenAI ``chat.completion.chunk`` objects.

Text and tool-call fragments are relayed the moment they arrive. When the request names
tools the gateway runs itself (a tool loop), tool-call fragments and the finish reason of
a reply are held until the event after it says whether that reply was the answer (the job
ends) or a round of the gateway's own tools (a ``tool_results`` event follows): a client
must only see tool calls it is expected to run. A second ``attempt`` after output was
relayed means the worker was lost and the job restarted; the two answers are never
spliced: an ``attempt`` for a model turn whose output was already relayed ends the
stream with an error naming the job, whose record will hold the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tasks.jobs.record import JobRecord, JobStatus
from tasks.jobs.stream import StreamEntry

DONE = "[DONE]"


@dataclass(slots=True)
class ChatChunks:
    """Turns stream entries into chunk objects (``data:`` payloads) for one completion."""

    completion_id: str
    created: int
    model: str
    include_usage: bool
    # The job may run a tool loop: hold tool calls until a reply is known to be the answer.
    hold_tool_calls: bool = False
    relayed: bool = False
    # Set once the stream's last chunk has been made (its end, or an error).
    ended: bool = False
    _role_sent: bool = False
    _held_calls: list[dict[str, Any]] = field(default_factory=list)
    _held_finish: str | None = None
    _turn: int = 0
    # The latest model turn whose output was relayed.
    _output_turn: int = -1

    def _chunk(
        self, delta: dict[str, Any], finish: str | None = None, logprobs: object = None
    ) -> dict[str, Any]:
        if not self._role_sent:
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        return {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
            ],
        }

    def on_event(self, entry: StreamEntry) -> list[dict[str, Any]] | None:
        """The chunks ``entry`` releases; None when the stream must end here with an
        error (``restarted``), which the caller sends."""
        event = entry.event
        match entry.type:
            case "attempt":
                turn = int(event.get("turn") or 0)
                if turn <= self._output_turn:
                    return None  # this turn's output is being produced again
                self._turn = turn
                self._drop_held()
                return []
            case "text":
                self._relay()
                # A text event's logprobs are its tokens': OpenAI sends them in its chunk.
                entries = event.get("logprobs")
                logprobs = {"content": entries, "refusal": None} if entries else None
                return [self._chunk({"content": event.get("text", "")}, logprobs=logprobs)]
            case "tool_call":
                if self.hold_tool_calls:
                    self._held_calls.append(event)
                    return []
                self._relay()
                return [self._chunk({"tool_calls": [_fragment(event)]})]
            case "turn_end":
                self._held_finish = str(event.get("finish_reason") or "stop")
                return []
            case "tool_results":
                # The held reply was a round of the gateway's tools, not the answer.
                self._drop_held()
                return []
            case _:
                return []

    def _relay(self) -> None:
        self.relayed = True
        self._output_turn = self._turn

    def _drop_held(self) -> None:
        self._held_calls.clear()
        self._held_finish = None

    def restarted(self, job_id: str) -> dict[str, Any]:
        self.ended = True
        return {
            "error": {
                "type": "stream_restarted",
                "message": (
                    f"the worker running job {job_id} was lost mid-answer and the job "
                    f"restarted; its answer will be at GET /v1/jobs/{job_id}"
                ),
                "param": None,
                "code": "stream_restarted",
            }
        }

    def finish(self, record: JobRecord) -> list[dict[str, Any] | str]:
        """What ends the stream of a finished job: the held tool calls, the finish reason and
        usage, then ``[DONE]``; an error object for a job that did not succeed."""
        self.ended = True
        if record.status is not JobStatus.SUCCEEDED:
            error = dict(record.error or {"type": "internal_error", "message": "job failed"})
            error.setdefault("code", error.get("type"))
            return [{"error": error}]
        result = record.result or {}
        out: list[dict[str, Any] | str] = []
        calls = _assembled(self._held_calls)
        if calls:
            out.append(self._chunk({"tool_calls": calls}))
        if not self._role_sent:
            out.append(self._chunk({"content": ""}))
        finish = str(result.get("finish_reason") or self._held_finish or "stop")
        out.append(self._chunk({}, finish))
        if self.include_usage:
            usage = record.usage or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            chunk = self._chunk({})
            chunk["choices"] = []
            chunk["usage"] = usage
            out.append(chunk)
        out.append(DONE)
        return out


def _fragment(event: dict[str, Any]) -> dict[str, Any]:
    """One tool-call fragment as OpenAI streams it: id, type and name with the first."""
    delta: dict[str, Any] = {"index": int(event.get("index") or 0)}
    function: dict[str, Any] = {"arguments": event.get("arguments") or ""}
    if event.get("id"):
        delta["id"] = event["id"]
        delta["type"] = "function"
    if event.get("name"):
        function["name"] = event["name"]
    delta["function"] = function
    return delta


def _assembled(fragments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool-call fragments as OpenAI stream deltas, one per call: a reply's calls are
    released together, so each goes whole."""
    calls: dict[int, dict[str, Any]] = {}
    for fragment in fragments:
        index = int(fragment.get("index") or 0)
        function = {"name": "", "arguments": ""}
        call = calls.setdefault(
            index, {"index": index, "id": "", "type": "function", "function": function}
        )
        call["id"] = fragment.get("id") or call["id"]
        call["function"]["name"] = fragment.get("name") or call["function"]["name"]
        call["function"]["arguments"] += fragment.get("arguments") or ""
    return [calls[i] for i in sorted(calls)]
