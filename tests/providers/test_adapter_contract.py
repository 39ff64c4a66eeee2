"""What every adapter promises, whatever its vendor: checked once per entry of
``tests.support.vendors.VENDORS``, against the emulator over real HTTP, each through the
vendor's own SDK or HTTP client. Behaviour is scripted with in-text directives.

Each vendor's wire format (paths, bodies, headers, signing, token exchanges) and its own
errors are checked in that vendor's ``test_<vendor>_adapter.py``; the streaming half of the
contract in ``test_adapter_stream_contract.py``. The ``kit``, ``isolated`` and ``provider``
fixtures (one per vendor) are in ``conftest.py``.
"""

from __future__ import annotations

import json

import pytest

from emulator import EmulatorControl, directive
from gateway.errors import ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from providers.base import Provider
from providers.types import ChatResponse, Message, TextPart, Usage
from providers.upstream_errors import AUTH_FAILED, MALFORMED_REPLY
from tests.support.vendors import VENDORS, VendorKit, ask, user, weather_round_trip


def complete(provider: Provider, kit: VendorKit, text: str) -> ChatResponse:
    return ask(provider, kit.model, user(text))


# --- successful calls ------------------------------------------------------------------------


def test_plain_completion_returns_the_reply_with_usage_model_and_response_id(
    provider: Provider, kit: VendorKit
) -> None:
    response = complete(provider, kit, "Hello there")
    assert response.message == Message("assistant", (TextPart("echo: Hello there"),))
    assert (response.finish_reason, response.model) == ("stop", kit.model)
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens > 0
    assert bool(response.provider_response_id) is kit.gives_response_id


def test_a_system_prompt_does_not_change_the_reply(provider: Provider, kit: VendorKit) -> None:
    response = ask(provider, kit.model, Message("system", (TextPart("Be terse."),)), user("Hi"))
    assert response.message.text == "echo: Hi"


def test_tool_call_round_trip(provider: Provider, kit: VendorKit) -> None:
    weather_round_trip(provider, kit.model)


def test_usage_reports_the_providers_token_counts(provider: Provider, kit: VendorKit) -> None:
    script = directive(usage={"prompt_tokens": 11, "completion_tokens": 7})
    assert complete(provider, kit, f"count {script}").usage == Usage(11, 7)


def test_scripted_reply_and_length_finish_reason(provider: Provider, kit: VendorKit) -> None:
    response = complete(provider, kit, directive(reply="x", finish_reason="length"))
    assert (response.message.text, response.finish_reason) == ("x", "length")


# --- errors ----------------------------------------------------------------------------------


def test_429_is_rate_limited_with_retry_after_and_tried_once(
    provider: Provider, kit: VendorKit, emulator_control: EmulatorControl
) -> None:
    with pytest.raises(ProviderRateLimited) as caught:
        complete(provider, kit, directive(status=429, retry_after=2, error="Quota exceeded"))
    error = caught.value
    assert (error.retry_after, error.upstream_status, error.retryable) == (2, 429, True)
    assert error.provider == kit.instance
    assert "Quota exceeded" in error.message
    assert len(emulator_control.requests()) == 1  # the SDK's own retries are off


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529, 408])
def test_server_errors_and_transient_conflicts_are_retryable_unavailable_tried_once(
    provider: Provider, kit: VendorKit, emulator_control: EmulatorControl, status: int
) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        complete(provider, kit, directive(status=status, error="runner has terminated"))
    error = caught.value
    assert (error.upstream_status, error.retryable, error.provider) == (status, True, kit.instance)
    assert "runner has terminated" in error.message
    assert len(emulator_control.requests()) == 1  # the SDK's own retries are off


def test_a_409_conflict_is_transient_on_every_vendor(provider: Provider, kit: VendorKit) -> None:
    # One ladder (providers.upstream_errors.error_for_status): a conflict is the upstream's
    # state, not the caller's request, so it is retried like a 5xx.
    with pytest.raises(ProviderUnavailable) as caught:
        complete(provider, kit, directive(status=409, error="conflict"))
    assert (caught.value.upstream_status, caught.value.retryable) == (409, True)


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_client_errors_are_rejected_with_the_providers_message(
    provider: Provider, kit: VendorKit, status: int
) -> None:
    with pytest.raises(ProviderRejected) as caught:
        complete(provider, kit, directive(status=status, error="bad thing"))
    error = caught.value
    assert error.message == "bad thing"
    assert (error.upstream_status, error.retryable, error.status_code) == (status, False, 400)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_502_and_do_not_echo_the_providers_text(
    provider: Provider, kit: VendorKit, status: int
) -> None:
    echoed = f"Incorrect credential provided: {kit.secret or 'none'}"
    with pytest.raises(ProviderError) as caught:
        complete(provider, kit, directive(status=status, error=echoed))
    # A bad provider credential is the operator's fault, not the caller's: 502, no retry.
    error = caught.value
    assert type(error) is ProviderError
    assert (error.status_code, error.retryable) == (502, False)
    assert (error.message, error.upstream_status) == (AUTH_FAILED, status)


@pytest.mark.parametrize("kit", [name for name in VENDORS if name != "ollama"], indirect=True)
@pytest.mark.parametrize("status", [400, 429, 500])
def test_errors_never_contain_the_credential(
    provider: Provider, kit: VendorKit, status: int
) -> None:
    secret = kit.secret
    assert secret is not None  # Ollama, which holds none, is left out
    with pytest.raises(ProviderError) as caught:
        complete(provider, kit, directive(status=status, error=f"credential was {secret}"))
    error = caught.value
    public = " ".join([str(error), repr(error), json.dumps(error.to_dict())])
    assert secret not in public
    assert "[redacted]" in error.message
    # Not chained: an SDK's error carries the request, its credentials included.
    assert error.__cause__ is None
    assert error.__suppress_context__ is kit.hides_upstream_exception


MALFORMATIONS = ["invalid_json", "not_object", "truncated", "wrong_content_type", "missing_fields"]


@pytest.mark.parametrize("kind", MALFORMATIONS)
def test_a_malformed_successful_reply_is_retryable_unavailable_tried_once(
    provider: Provider, kit: VendorKit, emulator_control: EmulatorControl, kind: str
) -> None:
    # A 200 the adapter cannot read is the provider's fault: retried by the normal rules
    # (providers.upstream_errors.malformed_reply), never a crash or a foreign exception.
    with pytest.raises(ProviderUnavailable, match=f"^{MALFORMED_REPLY}: ") as caught:
        complete(provider, kit, "Hello " + directive(malformed=kind))
    error = caught.value
    assert (error.retryable, error.provider) == (True, kit.instance)
    assert error.__cause__ is None
    public = " ".join([str(error), json.dumps(error.to_dict())])
    # What the emulator's broken bodies hold: none of it is repeated.
    for body_text in ("emulated malformed", "Service unavailable", '"an"', "echo:", "Hello"):
        assert body_text not in public
    if kit.secret:
        assert kit.secret not in public
    assert len(emulator_control.requests()) == 1


def test_connection_refused_is_unavailable(isolated: VendorKit, closed_port_url: str) -> None:
    adapter = isolated.build(closed_port_url)
    with pytest.raises(ProviderUnavailable) as caught:
        complete(adapter, isolated, "hi")
    adapter.close()
    error = caught.value
    assert (error.retryable, error.upstream_status) == (True, None)
    assert (error.provider, error.message) == (
        isolated.instance,
        "could not connect to the provider",
    )
    assert error.__cause__ is None and error.__suppress_context__


def test_slow_provider_times_out_as_unavailable(
    isolated: VendorKit, emulator_control: EmulatorControl
) -> None:
    adapter = isolated.build(timeout_seconds=0.3)
    with pytest.raises(ProviderUnavailable) as caught:
        complete(adapter, isolated, directive(latency_ms=1500))
    adapter.close()
    assert caught.value.message == "the provider did not answer in time"
    assert caught.value.retryable
