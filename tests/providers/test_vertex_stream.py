"""Gemini stream chunks, shaped like Google's reference, to neutral stream events: what the
emulator does not send (thought signatures, blocked prompts, unusable calls)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gateway.errors import ProviderError, ProviderUnavailable
from providers.streaming import StreamEnd, TextDelta, ToolCallDelta
from providers.types import Usage
from providers.upstream_errors import STREAM_CUT_SHORT
from providers.vertex_format import SIGNATURE_MARK
from providers.vertex_stream import ChunkReader

MODEL = "gemini-2.5-flash"


def chunk(*parts: dict[str, Any], reason: str | None = None, **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if reason:
        candidate["finishReason"] = reason
    return {"candidates": [candidate], "modelVersion": MODEL, "responseId": "r1", **extra}


def test_text_then_a_signed_call_then_the_totals_of_the_last_chunk() -> None:
    reader = ChunkReader(MODEL)
    signature = base64.b64encode(b"\x01\x02signed").decode()
    call = {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": signature}
    events = [
        *reader.feed(chunk({"text": "Let me "}, usageMetadata={"promptTokenCount": 9})),
        *reader.feed(chunk({"thought": True, "text": "(thinking)"}, {"text": "check."})),
        *reader.feed(
            chunk(
                call,
                reason="STOP",
                usageMetadata={
                    "promptTokenCount": 9,
                    "candidatesTokenCount": 4,
                    "thoughtsTokenCount": 2,
                },
            )
        ),
    ]
    assert events[:2] == [TextDelta("Let me "), TextDelta("check.")]
    [delta] = [e for e in events if isinstance(e, ToolCallDelta)]
    assert (delta.index, delta.name, delta.arguments) == (0, "f", '{"a": 1}')
    assert delta.id and SIGNATURE_MARK in delta.id  # the signature goes back with the call
    assert reader.end() == StreamEnd("tool_calls", Usage(9, 6), MODEL, "r1")


def test_a_blocked_prompt_ends_as_content_filter() -> None:
    reader = ChunkReader(MODEL)
    reader.feed({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {}})
    assert reader.end().finish_reason == "content_filter"


def test_a_call_the_model_could_not_form_is_a_provider_error() -> None:
    reader = ChunkReader(MODEL)
    reader.feed(chunk({"text": ""}, reason="MALFORMED_FUNCTION_CALL"))
    with pytest.raises(ProviderError, match="unusable output"):
        reader.end()


def test_a_stream_without_a_finish_reason_was_cut_short() -> None:
    reader = ChunkReader(MODEL)
    reader.feed(chunk({"text": "half an answ"}))
    with pytest.raises(ProviderUnavailable, match=f"^{STREAM_CUT_SHORT}$"):
        reader.end()
