"""Log redaction: credentials never reach the output."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from gateway.logs import REDACTED, configure_logging, is_secret_key, redact_secrets


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"api_key": "abc"}, {"api_key": REDACTED}),
        ({"Authorization": "Bearer xyz"}, {"Authorization": REDACTED}),
        ({"msg": "using Bearer abc.def"}, {"msg": f"using {REDACTED}"}),
        ({"detail": "key sk-proj-1234567890abcdef"}, {"detail": f"key {REDACTED}"}),
        ({"provider_secret": 5}, {"provider_secret": REDACTED}),
        ({"model": "gpt-4o"}, {"model": "gpt-4o"}),
    ],
    ids=["api_key", "authorization", "bearer-in-text", "sk-in-text", "secret-key", "untouched"],
)
def test_redact_secrets_masks_credentials(
    event: dict[str, object], expected: dict[str, object]
) -> None:
    assert dict(redact_secrets(None, "info", dict(event))) == expected


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "apiKey",
        "x-api-key",
        "Authorization",
        "password",
        "db_password",
        "client_secret",
        "webhook_secrets",
        "token",
        "access_token",
        "refreshToken",
        "x-session-token",
        "aws_secret_access_key",
        "private_key",
        "signing_key",
        "signature",
        "credentials",
        "Cookie",
    ],
)
def test_secret_bearing_keys_are_masked(key: str) -> None:
    assert is_secret_key(key)
    assert redact_secrets(None, "info", {key: "s3cr3t"})[key] == REDACTED


@pytest.mark.parametrize(
    "key",
    [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "max_tokens",
        "maxTokens",
        "input_tokens",
        "tpm_reserved",
        "token_count",
        "usage",
        "model",
        "cache_key",
        "idempotency_key",
        "message_key",
        "keys",
    ],
)
def test_counts_and_other_keys_stay_visible(key: str) -> None:
    assert not is_secret_key(key)
    assert redact_secrets(None, "info", {key: 42})[key] == 42


def test_usage_in_a_log_line_keeps_its_counts() -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    event = redact_secrets(None, "info", {"usage": usage, "api_key": "sk-live-abcdefghijkl"})
    assert event == {"usage": usage, "api_key": REDACTED}


def test_json_log_line_has_bound_context_and_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    structlog.contextvars.bind_contextvars(request_id="req-1", job_id="job_1")
    try:
        structlog.get_logger("t").info("calling", api_key="sk-live-abcdefghijkl")
        logging.getLogger("stdlib").warning("stdlib line with Bearer sk-live-abcdefghijkl")
    finally:
        structlog.contextvars.clear_contextvars()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    assert lines[0]["request_id"] == "req-1" and lines[0]["job_id"] == "job_1"
    assert lines[0]["event"] == "calling"
    assert "sk-live-abcdefghijkl" not in json.dumps(lines)


def test_nested_values_and_exceptions_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    log = structlog.get_logger("t")
    log.info("nested", detail={"api_key": "sk-nested-abcdefghij", "items": ["Bearer tok123"]})
    try:
        raise RuntimeError("upstream said sk-proj-abcdefghijklmnop is wrong")
    except RuntimeError:
        log.exception("structlog_failure")
        logging.getLogger("celery.worker").exception("stdlib_failure")
    out = capsys.readouterr().err
    for secret in ("sk-nested-abcdefghij", "tok123", "sk-proj-abcdefghijklmnop"):
        assert secret not in out
    assert out.count("RuntimeError") >= 2  # the tracebacks are still there, just masked
