"""Vendor-neutral chat types: what every adapter translates to and from.

The shape follows OpenAI chat completions (the gateway's public format): a request is a
list of messages with optional tool definitions; a response is one assistant message, a
finish reason and token usage. Frozen dataclasses: built once at the edge, never mutated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image by URL; ``data:`` URLs carry inline base64 content."""

    url: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class StorageRef:
    """An object in one of the gateway's storage routes, as the tenant names it (the key
    without the tenant's prefix; ``storage.access`` adds it)."""

    route: str
    bucket: str
    key: str


@dataclass(frozen=True, slots=True)
class DocumentPart:
    """A document (a PDF, plain text...) for the model to read: ``data`` is its base64
    content, or ``url`` where the vendor fetches it (exactly one is set); ``filename`` is
    the name or title it goes by. Only user messages carry documents.

    ``by_gateway``: the seed's ``document`` part, which the worker reads itself (``url``
    through the SSRF guard, ``storage`` with the gateway's credentials) before the provider
    call and replaces with a native document or its text (``tasks.documents``); adapters
    never see one."""

    media_type: str
    data: str | None = None
    url: str | None = None
    filename: str | None = None
    storage: StorageRef | None = None
    by_gateway: bool = False

    @property
    def data_url(self) -> str:
        """The document as a ``data:`` URL (``url`` itself when it has no inline data)."""
        if self.data is None:
            return self.url or ""
        return f"data:{self.media_type};base64,{self.data}"


ContentPart = TextPart | ImagePart | DocumentPart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to run a tool. ``arguments`` is the JSON text, as OpenAI sends it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: tuple[ContentPart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    # Set on role="tool" messages: which call this is the result of.
    tool_call_id: str | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        """All text parts joined; images are skipped."""
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


# "auto" | "none" | "required" | a specific function name to force.
ToolChoice = Literal["auto", "none", "required"] | str


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """OpenAI's ``response_format``: ``json_object`` asks for any JSON object;
    ``json_schema`` for JSON matching ``schema`` (``strict``: exactly, as OpenAI's
    structured outputs). ``text`` is the default and never reaches a ``ChatRequest``."""

    type: Literal["json_object", "json_schema"]
    name: str = ""
    schema: Mapping[str, Any] | None = None
    strict: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: ToolChoice | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    user: str | None = None
    response_format: ResponseFormat | None = None
    seed: int | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: Mapping[str, int] | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: str | None = None
    metadata: Mapping[str, str] | None = None
    service_tier: str | None = None
    # Parameters the gateway does not know, passed through as they came (only with
    # ``LLM_GATEWAY_PASS_UNKNOWN_PARAMETERS``, and only to OpenAI-type providers).
    passthrough: Mapping[str, Any] = field(default_factory=dict)

    @property
    def system_prompt(self) -> str:
        """All system messages joined; providers with a separate system field use this."""
        return "\n\n".join(m.text for m in self.messages if m.role == "system")

    @property
    def conversation(self) -> tuple[Message, ...]:
        """The messages without the system prompt."""
        return tuple(m for m in self.messages if m.role != "system")

    @property
    def needs_vision(self) -> bool:
        return any(isinstance(p, ImagePart) for m in self.messages for p in m.content)

    @property
    def needs_documents(self) -> bool:
        """Documents the provider itself must take; those the gateway reads first do not
        count (it inlines their text where the provider takes no documents)."""
        return any(
            isinstance(p, DocumentPart) and not p.by_gateway
            for m in self.messages
            for p in m.content
        )

    def gateway_documents_as_text(self) -> ChatRequest:
        """This request with every document the gateway reads first as an empty text part:
        what any provider can carry, so submission checks judge the rest of it."""
        if not any(
            isinstance(p, DocumentPart) and p.by_gateway for m in self.messages for p in m.content
        ):
            return self
        messages = tuple(
            replace(
                m,
                content=tuple(
                    TextPart("") if isinstance(p, DocumentPart) and p.by_gateway else p
                    for p in m.content
                ),
            )
            for m in self.messages
        )
        return replace(self, messages=messages)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def counted(
        cls, counters: object, prompt: tuple[str, ...], completion: tuple[str, ...]
    ) -> Usage:
        """Usage from a provider's token counters: each side sums its keys; a missing or
        malformed counter (not a positive integer) counts 0."""
        if not isinstance(counters, Mapping):
            return cls()

        def total(keys: tuple[str, ...]) -> int:
            return sum(
                v
                for k in keys
                if isinstance(v := counters.get(k), int) and not isinstance(v, bool) and v > 0
            )

        return cls(total(prompt), total(completion))

    def as_dict(self) -> dict[str, int]:
        """The OpenAI ``usage`` object: prompt, completion and total tokens."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True, slots=True)
class ChatResponse:
    message: Message
    finish_reason: FinishReason
    usage: Usage
    model: str
    provider_response_id: str | None = None
    # OpenAI's ``choice.logprobs`` object (``{"content": [{"token", "logprob", "bytes",
    # "top_logprobs"}], "refusal": None}``), kept as a plain mapping: only a request with
    # ``logprobs`` gets one, from a provider that reports them.
    logprobs: Mapping[str, Any] | None = None
