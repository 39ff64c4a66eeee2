"""The parameter table: the request check reads it, the docs page shows it."""

from __future__ import annotations

import pytest

from gateway.errors import CapabilityMissing, InvalidRequest
from providers.openai_format import chat_request_from_openai, chat_request_to_openai
from providers.parameters import DOC, check_parameters, rendered_doc
from tasks.kinds.completion_request import CompletionRequest

CHAT = {"model": "m", "messages": [{"role": "user", "content": "x"}]}


def test_the_docs_table_is_the_one_the_code_reads() -> None:
    text = DOC.read_text()
    assert text == rendered_doc(text), "run: python -m providers.parameters --write"


def test_a_refused_parameter_names_itself_and_the_instance() -> None:
    request = chat_request_from_openai({**CHAT, "seed": 7})
    with pytest.raises(CapabilityMissing) as caught:
        check_parameters("nowhere", "instance 'x' (nowhere)", request)
    assert caught.value.param == "seed"
    assert "instance 'x' (nowhere) cannot honour seed" in str(caught.value)


def test_a_value_row_names_the_value() -> None:
    request = chat_request_from_openai({**CHAT, "response_format": {"type": "json_object"}})
    with pytest.raises(CapabilityMissing, match="cannot honour response_format: json_object"):
        check_parameters("nowhere", "instance 'x'", request)


def test_a_parameter_left_at_its_default_is_not_used() -> None:
    request = chat_request_from_openai({**CHAT, "logprobs": False, "response_format": None})
    check_parameters("nowhere", "instance 'x'", request)


def test_unknown_parameters_are_refused_by_default() -> None:
    with pytest.raises(InvalidRequest) as caught:
        CompletionRequest.check({**CHAT, "verbosity": "low", "store": True})
    assert caught.value.param == "store"
    assert "'store', 'verbosity'" in str(caught.value)
    assert "LLM_GATEWAY_PASS_UNKNOWN_PARAMETERS" in str(caught.value)


def test_passed_through_unknown_parameters_go_to_openai_in_the_extra_body() -> None:
    raw = {**CHAT, "verbosity": "low"}
    CompletionRequest.check(raw, pass_unknown=True)
    request = chat_request_from_openai(raw)
    assert request.passthrough == {"verbosity": "low"}
    check_parameters("openai", "instance 'openai'", request)
    assert chat_request_to_openai(request)["extra_body"] == {"verbosity": "low"}
    with pytest.raises(CapabilityMissing, match="only OpenAI-type providers") as caught:
        check_parameters("anthropic", "instance 'anthropic'", request)
    assert caught.value.param == "verbosity"


def test_gateway_fields_are_not_unknown() -> None:
    CompletionRequest.check({**CHAT, "provider": "openai", "tool_loop": {"max_iterations": 2}})
    assert chat_request_from_openai({**CHAT, "provider": "openai"}).passthrough == {}
