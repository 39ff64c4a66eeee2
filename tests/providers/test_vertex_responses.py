"""GenerateContentResponse bodies, shaped like Google's reference, to the neutral types.

Reference: https://cloud.google.com/vertex-ai/docs/reference/rest/v1/GenerateContentResponse
Finish reasons: https://cloud.google.com/vertex-ai/docs/reference/rest/v1/GenerateContentResponse#FinishReason
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from gateway.errors import ProviderError, ProviderUnavailable
from providers.types import ChatRequest, ChatResponse, Message, TextPart, ToolCall, Usage
from providers.vertex_format import SIGNATURE_MARK, chat_response_from_gemini, gemini_request

MODEL = "gemini-2.5-flash"
ASK = Message("user", (TextPart("What is the weather in Boston?"),))


USAGE = {"promptTokenCount": 28, "candidatesTokenCount": 7, "totalTokenCount": 35}


def candidate(parts: list[dict[str, Any]], reason: str = "STOP") -> dict[str, Any]:
    return {
        "content": {"role": "model", "parts": parts},
        "finishReason": reason,
        "safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}],
        "avgLogprobs": -0.12,
    }


def answer(*candidates: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "candidates": list(candidates),
        "usageMetadata": USAGE,
        "modelVersion": "gemini-2.5-flash",
        "createTime": "2025-06-01T10:00:00.000000Z",
        "responseId": "resp-1",
        **extra,
    }


def text_reply(text: str, finish: str) -> tuple[Message, str]:
    return Message("assistant", (TextPart(text),)), finish


RESPONSES: list[tuple[str, dict[str, Any], Message, str]] = [
    (
        "text",
        answer(candidate([{"text": "It is sunny"}, {"text": " in Boston."}])),
        *text_reply("It is sunny in Boston.", "stop"),
    ),
    (
        "max tokens",
        answer(candidate([{"text": "It is"}], "MAX_TOKENS")),
        *text_reply("It is", "length"),
    ),
    ("safety", answer({"finishReason": "SAFETY"}), Message("assistant"), "content_filter"),
    (
        "recitation",
        answer(candidate([{"text": "x"}], "RECITATION")),
        *text_reply("x", "content_filter"),
    ),
    (
        "prohibited content",
        answer({"finishReason": "PROHIBITED_CONTENT"}),
        Message("assistant"),
        "content_filter",
    ),
    (
        "blocked prompt: no candidates",
        {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": USAGE,
            "responseId": "resp-1",
        },
        Message("assistant"),
        "content_filter",
    ),
    (
        "thought summaries are not text",
        answer(candidate([{"text": "thinking...", "thought": True}, {"text": "Done."}])),
        *text_reply("Done.", "stop"),
    ),
]


@pytest.mark.parametrize(
    ("name", "body", "message", "finish"), RESPONSES, ids=[r[0] for r in RESPONSES]
)
def test_responses_map_text_and_finish_reasons(
    name: str, body: dict[str, Any], message: Message, finish: str
) -> None:
    response = chat_response_from_gemini(body, MODEL)
    assert (response.message, response.finish_reason) == (message, finish)
    assert response.usage == Usage(28, 7)
    assert response.provider_response_id == "resp-1"
    assert response.model == MODEL


def test_function_calls_get_synthesized_ids_and_finish_as_tool_calls() -> None:
    parts: list[dict[str, Any]] = [
        {"text": "Checking."},
        {"functionCall": {"name": "get_current_weather", "args": {"location": "Boston"}}},
        {"functionCall": {"name": "get_current_weather", "args": {"location": "Paris"}}},
    ]
    response = chat_response_from_gemini(answer(candidate(parts)), MODEL)
    assert response.finish_reason == "tool_calls"
    assert response.message.text == "Checking."
    first, second = response.message.tool_calls
    assert first.id.startswith("call_") and first.id != second.id
    assert [json.loads(c.arguments) for c in (first, second)] == [
        {"location": "Boston"},
        {"location": "Paris"},
    ]


def test_a_function_call_id_from_the_response_is_kept() -> None:
    part = {"functionCall": {"id": "fc-7", "name": "f", "args": {}}}
    response = chat_response_from_gemini(answer(candidate([part])), MODEL)
    assert response.message.tool_calls == (ToolCall("fc-7", "f", "{}"),)


def test_thought_signatures_ride_in_the_call_id_and_go_back_with_the_call() -> None:
    signature = base64.b64encode(bytes(range(200))).decode()  # has "+" and "/"
    part = {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": signature}
    [call] = chat_response_from_gemini(answer(candidate([part])), MODEL).message.tool_calls
    assert SIGNATURE_MARK in call.id and not set(call.id) & set("+/=")
    answered = Message("tool", (TextPart("ok"),), tool_call_id=call.id)
    follow_up = ChatRequest(MODEL, (ASK, Message("assistant", tool_calls=(call,)), answered))
    model_turn = gemini_request(follow_up)["contents"][1]
    assert model_turn == {
        "role": "model",
        "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": signature}],
    }


def test_thinking_tokens_count_as_completion_tokens() -> None:
    usage = {**USAGE, "thoughtsTokenCount": 100}
    response = chat_response_from_gemini(
        {**answer(candidate([{"text": "x"}])), "usageMetadata": usage}
    )
    assert response.usage == Usage(28, 107)


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        ({"candidates": "nope"}, ProviderUnavailable, "malformed reply: .*not a list of objects"),
        ({"usageMetadata": {}}, ProviderUnavailable, "no candidates and no promptFeedback"),
        (
            answer(candidate([{"executableCode": {"language": "PYTHON", "code": "1"}}])),
            ProviderError,
            r"unsupported part \['executableCode'\]",
        ),
    ],
)
def test_malformed_or_unsupported_responses_are_provider_errors(
    body: dict[str, Any], error: type[ProviderError], match: str
) -> None:
    with pytest.raises(error, match=match) as caught:
        chat_response_from_gemini(body, MODEL)
    # Malformed is the provider's passing fault (retried); an unsupported part is not.
    assert caught.value.retryable is (error is ProviderUnavailable)


def test_the_model_version_in_the_response_names_the_model() -> None:
    response = chat_response_from_gemini(answer(candidate([{"text": "hi"}])), "requested")
    assert response == ChatResponse(
        Message("assistant", (TextPart("hi"),)), "stop", Usage(28, 7), "gemini-2.5-flash", "resp-1"
    )


@pytest.mark.parametrize("reason", ["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"])
def test_a_call_the_model_could_not_form_is_a_provider_error(reason: str) -> None:
    body = {
        "candidates": [{"content": {"role": "model", "parts": []}, "finishReason": reason}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 0},
    }
    with pytest.raises(ProviderError, match=reason):
        chat_response_from_gemini(body, "gemini-2.5-flash")


def test_model_armor_is_a_content_filter_stop() -> None:
    body = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "MODEL_ARMOR"}
        ]
    }
    assert chat_response_from_gemini(body, "gemini-2.5-flash").finish_reason == "content_filter"
