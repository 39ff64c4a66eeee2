"""``POST /v1/chat/completions``: OpenAI's request and its ``chat.completion`` answer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.schemas.common import ResponseModel
from tasks.kinds.completion_request import TRANSPORT_OPTIONS, CompletionRequest


class ChatCompletionRequest(CompletionRequest):
    """``POST /v1/chat/completions``: OpenAI's request, the same model a completion job's
    ``request`` is checked against, with ``model`` required. Fields not modelled pass
    through to the normalizer, the one place that decides what a message may contain."""

    model: str = Field(min_length=1, max_length=256)
    # The endpoint's own options, not the job's (an SDK sends them through ``extra_body``).
    session_id: str | None = Field(
        default=None, min_length=1, description="continue this session (see sessions)"
    )
    cancel_on_disconnect: bool = Field(
        default=False, description="with stream: cancel the job when the client goes away"
    )

    def job_request(self) -> dict[str, Any]:
        """The request stored on the job: ``canonical``, without the endpoint's options."""
        return self.model_dump(
            exclude={*TRANSPORT_OPTIONS, "session_id", "cancel_on_disconnect"},
            exclude_none=True,
        )


class ChatChoice(ResponseModel):
    index: int
    message: dict[str, Any] = Field(description="an OpenAI assistant message")
    finish_reason: str
    logprobs: dict[str, Any] | None = Field(
        description="OpenAI's logprobs object ({content: [{token, logprob, bytes, "
        "top_logprobs}], refusal}) when the request set logprobs; else null"
    )


class ChatCompletion(ResponseModel):
    """OpenAI's ``chat.completion``; with ``stream`` the same answer comes as
    ``text/event-stream`` chunks. The job's id is in the ``x-llm-gateway-job-id`` header."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str | None
    choices: list[ChatChoice]
    usage: dict[str, Any]
    system_fingerprint: None
