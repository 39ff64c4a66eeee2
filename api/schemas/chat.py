"""``POST /v1/chat/completions``: OpenAI's request and its ``chat.completion`` answer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import ResponseModel


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions``: the OpenAI request; fields we do not model pass through
    to the normalizer, which is the one place that decides what a message may contain."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int = Field(default=1, ge=1, le=1, description="only n=1 is supported")
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    provider: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="pin the request to an instance name or a provider type",
    )

    def job_request(self) -> dict[str, Any]:
        """The request stored on the job: everything except transport options."""
        return self.model_dump(exclude={"stream", "stream_options", "n"}, exclude_none=True)


class ChatChoice(ResponseModel):
    index: int
    message: dict[str, Any] = Field(description="an OpenAI assistant message")
    finish_reason: str
    logprobs: None


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
