"""What an ``enhancement`` job asks for: a document, a model and options. Checked at
submission (a bad one is a 400 before anything is queued) and stored normalized, defaults
filled in, so the worker runs exactly what was accepted."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.errors import InvalidRequest

DEFAULT_TOOLS = ("search_corpus", "get_chunk")


class EnhancementOptions(BaseModel):
    """How the three steps run."""

    model_config = ConfigDict(extra="forbid", strict=True)

    review: bool = Field(default=True, description="step 3's model review")
    tools: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TOOLS),
        max_length=16,
        description="registered tools the model may call while gathering context",
    )
    max_iterations: int = Field(default=4, ge=0, le=50, description="tool rounds in step 1")
    prompt_version: str | None = Field(
        default=None, min_length=1, max_length=32, description="default: the latest"
    )
    min_content_retained: float = Field(
        default=0.9, ge=0, le=1, description="share of the original's words the result keeps"
    )
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)


class DocumentSource(BaseModel):
    """The document: inline Markdown, or a URL the worker fetches (size-limited)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str | None = Field(default=None, min_length=1)
    url: str | None = Field(default=None, min_length=1, max_length=4096)
    name: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.text is None) == (self.url is None):
            raise ValueError("give exactly one of document.text and document.url")
        return self


class EnhancementRequest(BaseModel):
    """An ``enhancement`` job's ``request``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str = Field(min_length=1, max_length=256)
    document: DocumentSource
    options: EnhancementOptions = Field(default_factory=EnhancementOptions)
    provider: str | None = Field(default=None, min_length=1, max_length=64)

    @classmethod
    def parse(cls, raw: dict[str, Any], param: str = "request") -> EnhancementRequest:
        """Validate ``raw``; the first problem is a 400 naming its field."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in (param, *first["loc"]))
            message = str(first["msg"]).removeprefix("Value error, ")
            raise InvalidRequest(f"{where}: {message}", param=where) from None

    def stored(self) -> dict[str, Any]:
        """The normalized request the job record keeps."""
        return self.model_dump(exclude_none=True)
