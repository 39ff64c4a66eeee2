"""A completion request's canonical form: what the chat endpoint stores on its job and
what a completion job's response-cache key is made from, the same for both."""

from __future__ import annotations

from typing import Any

import orjson

from api.schemas.chat import ChatCompletionRequest
from tasks.cache.policy import cache_key
from tasks.kinds.completion_request import CompletionRequest

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "hi"}],
    "temperature": 1,
    "max_tokens": 20,
}


def _chat_request(body: dict[str, Any]) -> dict[str, Any]:
    """What ``POST /v1/chat/completions`` stores, its body parsed from JSON as FastAPI does."""
    return ChatCompletionRequest.model_validate_json(orjson.dumps(body)).job_request()


def test_a_job_request_spelled_differently_is_the_chat_endpoints_request() -> None:
    job = {
        "max_tokens": 20,
        "n": 1,
        "top_p": None,
        "stream": False,
        "temperature": 1.0,
        "messages": [{"role": "user", "content": "hi"}],
        "model": "gpt-4o-mini",
    }
    canonical = CompletionRequest.check(job).canonical()
    assert canonical == _chat_request({**CHAT, "stream": True, "cancel_on_disconnect": True})
    assert cache_key("t", canonical) == cache_key("t", _chat_request(CHAT))


def test_a_parameter_difference_is_another_request() -> None:
    canonical = CompletionRequest.check({**CHAT, "max_tokens": 21}).canonical()
    assert cache_key("t", canonical) != cache_key("t", _chat_request(CHAT))
