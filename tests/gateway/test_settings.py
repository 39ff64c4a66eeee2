"""API keys configuration: plaintext and sha256 forms, malformed values, auth off."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import SecretStr, ValidationError

from gateway.settings import Settings, hash_api_key


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_plain_and_hashed_keys_map_to_tenants() -> None:
    digest = hashlib.sha256(b"beta-key").hexdigest()
    s = settings(api_keys=SecretStr(f"alpha:alpha-key, beta:sha256:{digest}"))
    assert s.key_hashes == {hash_api_key("alpha-key"): "alpha", digest: "beta"}


def test_key_without_tenant_is_rejected() -> None:
    with pytest.raises(ValueError, match="tenant:key"):
        _ = settings(api_keys=SecretStr("just-a-key")).key_hashes


def test_short_sha256_digest_is_rejected() -> None:
    with pytest.raises(ValueError, match="64 hex"):
        _ = settings(api_keys=SecretStr("t:sha256:abc")).key_hashes


def test_empty_keys_refused_unless_auth_disabled() -> None:
    with pytest.raises(ValueError, match="LLM_GATEWAY_API_KEYS"):
        settings().check_auth_configured()
    settings(auth_disabled=True).check_auth_configured()


def test_env_prefix_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_GATEWAY_PORT", "9999")
    monkeypatch.setenv("LLM_GATEWAY_JOB_TTL_SECONDS", "120")
    s = Settings()
    assert (s.port, s.job_ttl_seconds) == (9999, 120)


def test_invalid_value_fails_at_start() -> None:
    with pytest.raises(ValidationError, match="port"):
        settings(port=0)


def test_keys_are_not_in_repr() -> None:
    s = settings(api_keys=SecretStr("t:very-secret-key"))
    assert "very-secret-key" not in repr(s)


def test_tenant_limits_are_read_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "LLM_GATEWAY_TENANT_LIMITS", '{"acme": {"rpm": 60, "daily_budget_usd": 0.01}}'
    )
    limits = Settings(_env_file=None).tenant_limits  # type: ignore[call-arg]
    assert limits["acme"].rpm == 60 and limits["acme"].daily_budget_usd == 0.01
    assert limits["acme"].tpm is None and limits["acme"].monthly_budget_usd is None


@pytest.mark.parametrize(
    "raw", ['{"acme": {"rpm": 0}}', '{"acme": {"rps": 5}}', '{"acme": {"daily_budget_usd": -1}}']
)
def test_bad_tenant_limits_fail_at_start(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("LLM_GATEWAY_TENANT_LIMITS", raw)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]
