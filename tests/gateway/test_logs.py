"""Log redaction: credentials never reach the output."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from gateway.logs import REDACTED, configure_logging, redact_secrets


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
