"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: Anthropic's Messages API
request, its ``message`` answer, the token count and Anthropic's error shape.

Only what the gateway can carry is modelled; anything else Anthropic defines (``top_k``,
``thinking``, server tools, citations...) is refused with a 400 naming it, never dropped.
``cache_control`` is accepted everywhere Anthropic allows it and ignored: it changes what
a call costs, never what it answers. ``api.anthropic.request`` translates the request into
the gateway's chat request.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from api.schemas.common import RequestModel, ResponseModel

CacheControl = Annotated[
    dict[str, Any] | None,
    Field(description="accepted and ignored: prompt caching changes the price, not the answer"),
]


# Fields the gateway cannot carry, accepted only as null: what the SDK's response blocks
# hold when a client sends an answer back as the next turn's history.
Unset = Annotated[None, Field(description="only null: the gateway does not carry it")]


class TextBlock(RequestModel):
    type: Literal["text"]
    text: str
    cache_control: CacheControl = None
    citations: Unset = None


class Base64ImageSource(RequestModel):
    type: Literal["base64"]
    media_type: Literal["image/jpeg", "image/png", "image/gif", "image/webp"]
    data: str = Field(min_length=1)


class UrlSource(RequestModel):
    type: Literal["url"]
    url: str = Field(pattern=r"^https?://", max_length=8192)


class ImageBlock(RequestModel):
    type: Literal["image"]
    source: Annotated[Base64ImageSource | UrlSource, Field(discriminator="type")]
    cache_control: CacheControl = None


class Base64PdfSource(RequestModel):
    type: Literal["base64"]
    media_type: Literal["application/pdf"]
    data: str = Field(min_length=1)


class PlainTextSource(RequestModel):
    type: Literal["text"]
    media_type: Literal["text/plain"]
    data: str


class StorageSource(RequestModel):
    """The gateway's extension: an object in one of its storage routes (``/-s3/``), read
    by the worker for the caller's tenant (docs/storage.md)."""

    type: Literal["storage"]
    route: str = Field(min_length=1, max_length=64)
    bucket: str = Field(min_length=1, max_length=255)
    key: str = Field(min_length=1, max_length=1024)


class DocumentBlock(RequestModel):
    """A document; one by ``url`` or ``storage`` is read by the gateway before the call
    (through its SSRF guard, cached), then given to the model natively or as text."""

    type: Literal["document"]
    source: Annotated[
        Base64PdfSource | PlainTextSource | UrlSource | StorageSource,
        Field(discriminator="type"),
    ]
    title: str | None = Field(default=None, max_length=500)
    cache_control: CacheControl = None


class ToolUseBlock(RequestModel):
    type: Literal["tool_use"]
    id: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=256)
    input: dict[str, Any]
    cache_control: CacheControl = None
    caller: Unset = None
    toolset_name: Unset = None


ToolResultContent = Annotated[TextBlock | ImageBlock, Field(discriminator="type")]


class ToolResultBlock(RequestModel):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1, max_length=256)
    content: str | list[ToolResultContent] | None = None
    is_error: bool | None = Field(
        default=None, description="the result's text reaches the model prefixed 'Error: '"
    )
    cache_control: CacheControl = None


ContentBlock = Annotated[
    TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock,
    Field(discriminator="type"),
]


class InputMessage(RequestModel):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class Tool(RequestModel):
    """A client tool; Anthropic's server tools (web search, code execution...) are refused."""

    type: Literal["custom"] | None = None
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")
    description: str | None = None
    input_schema: dict[str, Any]
    cache_control: CacheControl = None


class ToolChoiceAuto(RequestModel):
    type: Literal["auto"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(RequestModel):
    type: Literal["any"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(RequestModel):
    type: Literal["tool"]
    name: str = Field(min_length=1, max_length=128)
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(RequestModel):
    type: Literal["none"]


ToolChoice = Annotated[
    ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone,
    Field(discriminator="type"),
]


class RequestMetadata(RequestModel):
    user_id: str | None = Field(default=None, max_length=256)


class JsonOutputFormat(RequestModel):
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(RequestModel):
    """Structured output (``format``) and how hard the model thinks (``effort``): the chat
    request's ``response_format`` (strict JSON schema) and ``reasoning_effort``."""

    format: JsonOutputFormat | None = None
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None


class MessageTokensCount(RequestModel):
    """``POST /v1/messages/count_tokens``: a message request without its output options."""

    model: str = Field(min_length=1, max_length=256)
    messages: list[InputMessage] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    provider: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the gateway's: pin the request to an instance name or a provider type",
    )


class MessageCreate(MessageTokensCount):
    """``POST /v1/messages``: Anthropic's request. ``temperature`` keeps Anthropic's 0-1
    range. The SDKs send ``provider`` through ``extra_body``."""

    max_tokens: int = Field(ge=1)
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    metadata: RequestMetadata | None = None
    cache_control: CacheControl = None
    output_config: OutputConfig | None = None
    service_tier: Literal["auto", "standard_only"] | None = None


class TextContent(ResponseModel):
    type: Literal["text"]
    text: str


class ToolUseContent(ResponseModel):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class MessageUsage(ResponseModel):
    input_tokens: int
    output_tokens: int


class AnthropicMessage(ResponseModel):
    """Anthropic's ``message``; with ``stream`` the same answer comes as Anthropic's
    ``text/event-stream`` events. The job's id is in the ``x-llm-gateway-job-id`` header."""

    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    content: list[Annotated[TextContent | ToolUseContent, Field(discriminator="type")]]
    model: str
    stop_reason: Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal"]
    stop_sequence: str | None
    usage: MessageUsage


class MessageTokens(ResponseModel):
    input_tokens: int
    source: Literal["provider", "estimate"] = Field(
        description="the gateway's: counted by the provider, or the gateway's own estimate"
    )


class AnthropicErrorBody(ResponseModel):
    type: str = Field(examples=["invalid_request_error"])
    message: str


class AnthropicError(ResponseModel):
    """Anthropic's error shape, which every ``/v1/messages`` error takes."""

    type: Literal["error"]
    error: AnthropicErrorBody
