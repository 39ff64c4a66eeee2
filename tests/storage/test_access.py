"""Key normalization, the bucket and prefix rules, and the tenant prefix."""

from __future__ import annotations

import pytest

from gateway.errors import AccessDenied, InvalidObjectKey
from storage.access import AccessPolicy, normalize_key, tenant_prefix
from storage.config import AccessConfig

POLICY = AccessPolicy.from_config(
    AccessConfig(allowed_buckets=["rag-docs"], denied_prefixes=["secret/", "Internal/"])
)


@pytest.mark.parametrize(
    "key",
    [
        "doc.md",
        "docs/2024/quantum computing.md",
        "a.b/c..d/...e",  # dots inside names are names
        "ünïcödé/文書.md",
        "100% sure.txt",  # a percent sign that escapes nothing
    ],
)
def test_plain_keys_pass_unchanged(key: str) -> None:
    assert normalize_key(key) == key


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "empty"),
        ("../etc/passwd", "'..' segment"),
        ("a/../../b", "'..' segment"),
        ("a/./b", "'.' segment"),
        ("/abs", "starts with '/'"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("a\\..\\b", "backslash"),
        ("a%2Fb", "percent-encoded"),
        ("a%2e%2e/b", "percent-encoded"),
        ("a\x00b", "control character"),
        ("a\nb", "control character"),
        ("a/\uff0e\uff0e/b", "'..' segment"),  # full-width dots, NFKC ".."
        ("\uff0fabs", "starts with '/'"),  # a full-width solidus
        ("x" * 1025, "longer than 1024 bytes"),
    ],
)
def test_keys_that_could_spell_another_path_are_refused_saying_why(key: str, why: str) -> None:
    with pytest.raises(InvalidObjectKey, match=why) as raised:
        normalize_key(key)
    assert raised.value.param == "key" and raised.value.status_code == 400


def test_a_list_prefix_may_be_empty_or_end_with_a_slash_but_not_traverse() -> None:
    assert normalize_key("", prefix=True) == ""
    assert normalize_key("docs/", prefix=True) == "docs/"
    with pytest.raises(InvalidObjectKey, match=r"'\.\.' segment") as raised:
        normalize_key("docs/../", prefix=True)
    assert raised.value.param == "prefix"


@pytest.mark.parametrize(
    "key", ["secret/a", "SECRET/a", "Secret/a", "internal/x", "INTERNAL/x", "\uff53ecret/a"]
)
def test_denied_prefixes_match_whatever_the_case_or_width(key: str) -> None:
    with pytest.raises(AccessDenied) as raised:
        POLICY.object_ref("tenant_a", "rag-docs", key)
    assert raised.value.status_code == 403 and raised.value.param == "key"


def test_a_key_merely_starting_like_a_denied_prefix_is_allowed() -> None:
    ref = POLICY.object_ref("tenant_a", "rag-docs", "secrets-of-success.md")
    assert ref.stored_key == "tenants/tenant_a/secrets-of-success.md"


def test_a_bucket_outside_the_list_is_denied_before_anything_else() -> None:
    with pytest.raises(AccessDenied) as raised:
        POLICY.object_ref("tenant_a", "other", "doc.md")
    assert raised.value.param == "bucket"


def test_every_object_lives_under_its_tenants_prefix() -> None:
    a = POLICY.object_ref("tenant_a", "rag-docs", "doc.md")
    b = POLICY.object_ref("tenant_b", "rag-docs", "doc.md")
    assert (a.key, a.stored_key) == ("doc.md", "tenants/tenant_a/doc.md")
    assert b.stored_key == "tenants/tenant_b/doc.md"
    assert POLICY.list_prefix("tenant_a", "rag-docs", "") == "tenants/tenant_a/"


def test_listing_inside_a_denied_prefix_is_denied() -> None:
    with pytest.raises(AccessDenied):
        POLICY.list_prefix("tenant_a", "rag-docs", "Secret/")
    assert POLICY.list_prefix("tenant_a", "rag-docs", "secr") == "tenants/tenant_a/secr"


@pytest.mark.parametrize("tenant", ["../b", "a/b", "", ".hidden"])
def test_a_tenant_name_that_could_escape_its_prefix_is_refused(tenant: str) -> None:
    with pytest.raises(AccessDenied):
        tenant_prefix(tenant)
