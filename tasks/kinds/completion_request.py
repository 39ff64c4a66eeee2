"""What a ``completion`` job asks for: OpenAI's chat request, as every endpoint that takes
one checks it (``POST /v1/jobs``' ``request``, ``POST /v1/chat/completions``' body).

Types are strict (``true`` is not 1, ``"yes"`` is not true) and the numbers keep to the
ranges OpenAI documents. The messages and tools are only counted and measured here
(``RequestLimits``); what a message may contain is the chat-request parser's to judge
(``providers.openai_format``). A field not named is refused unless the operator lets
unknown parameters through (``check``); which provider honours which parameter is
``providers.parameters``' table.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from gateway.errors import InvalidRequest, RequestValidationFailed, field_path

# How the answer is delivered, not what it is: left out of the request a chat endpoint
# stores on its job and of the response cache's key, so a streamed and a plain request,
# a job and a chat request, share an entry.
TRANSPORT_OPTIONS = frozenset({"stream", "stream_options", "n"})


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    include_usage: bool | None = None


class CompletionRequest(BaseModel):
    """OpenAI's chat-completions request ; ``provider`` is the gateway's (``tool_loop``
    passes through to ``tasks.loops.state``). A job's ``model`` may be left out for the
    configured default model."""

    model_config = ConfigDict(extra="allow", strict=True)

    model: str | None = Field(default=None, min_length=1, max_length=256)
    messages: list[dict[str, Any]] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, int] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    seed: int | None = None
    stop: str | list[str] | None = None
    user: str | None = None
    reasoning_effort: str | None = Field(default=None, min_length=1, max_length=32)
    metadata: dict[str, Annotated[str, Field(max_length=512)]] | None = Field(
        default=None, max_length=16
    )
    service_tier: str | None = Field(default=None, min_length=1, max_length=32)
    n: int = Field(default=1, ge=1, description="only n=1 is supported")
    stream: bool = False
    stream_options: StreamOptions | None = None
    # The gateway's own fields (an SDK sends them through ``extra_body``).
    provider: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="pin the request to an instance name or a provider type",
    )
    # Judged by ``tasks.loops.state.LoopLimits``, whose errors name the bad option.
    tool_loop: Any = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int) -> int:
        # Fanning out would multiply the cost behind the caller's back; n requests are
        # as quick through the queue and each is counted, retried and billed on its own.
        if value != 1:
            raise PydanticCustomError(
                "n_unsupported", "only n=1 is supported; send n requests for n choices"
            )
        return value

    @field_validator("top_logprobs")
    @classmethod
    def _top_logprobs_need_logprobs(cls, value: int | None, info: ValidationInfo) -> int | None:
        # As OpenAI answers; carried alone, an adapter would have to drop it or guess.
        if value is not None and info.data.get("logprobs") is not True:
            raise PydanticCustomError(
                "top_logprobs_without_logprobs", "only allowed when logprobs is true"
            )
        return value

    @field_validator("stream_options")
    @classmethod
    def _stream_options_need_stream(
        cls, value: StreamOptions | None, info: ValidationInfo
    ) -> StreamOptions | None:
        # As OpenAI answers: options for a stream that was not asked for are a mistake.
        if value is not None and not info.data.get("stream"):
            raise PydanticCustomError(
                "stream_options_without_stream", "only allowed when stream is true"
            )
        return value

    @classmethod
    def check(
        cls, raw: dict[str, Any], param: str = "", *, pass_unknown: bool = False
    ) -> CompletionRequest:
        """Validate ``raw``; the first problem is a 422 naming its field, under ``param``
        when given. Without one, a job's request is named as the chat endpoint names the
        same field (``temperature``, ``messages[2].content``).

        A field neither OpenAI's nor the gateway's is a 400 naming it, unless
        ``pass_unknown`` (``LLM_GATEWAY_PASS_UNKNOWN_PARAMETERS``): then it is passed
        through to OpenAI-type providers, and refused by the others
        (``providers.parameters``)."""
        try:
            parsed = cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = field_path(param, *first["loc"])
            extra = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
            raise RequestValidationFailed(f"{where}: {first['msg']}{extra}", param=where) from None
        unknown = sorted(parsed.model_extra or ())
        if unknown and not pass_unknown:
            names = ", ".join(repr(name) for name in unknown)
            where = field_path(param, unknown[0])
            raise InvalidRequest(
                f"unknown parameter{'s' if len(unknown) > 1 else ''} {names}: neither OpenAI's "
                "chat parameters nor the gateway's (LLM_GATEWAY_PASS_UNKNOWN_PARAMETERS passes "
                "unknown ones through to OpenAI-type providers)",
                param=where,
            )
        return parsed

    def canonical(self) -> dict[str, Any]:
        """The request as validated, without its transport options, unset fields left out:
        what ``POST /v1/chat/completions`` stores on its job, and what the response cache's
        key is made from for a completion job, so the two share entries."""
        return self.model_dump(exclude=set(TRANSPORT_OPTIONS), exclude_none=True)
