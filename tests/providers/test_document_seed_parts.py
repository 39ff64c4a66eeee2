"""The seed's ``document`` part in a chat request: parsed into a neutral part the gateway
reads itself, written back unchanged, refused with the field named when malformed, and
judged as text by the submission checks (any instance takes it)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import InvalidRequest
from providers.openai_format import chat_request_from_openai, message_to_openai
from providers.types import DocumentPart, StorageRef, TextPart


def _request(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": list(parts)}]}


URL = {"type": "document", "source": {"type": "url", "url": "https://example.com/r.pdf"}}
STORED = {
    "type": "document",
    "source": {"type": "storage", "route": "local", "bucket": "rag-docs", "key": "a/b.md"},
    "title": "b.md",
}
INLINE = {
    "type": "document",
    "source": {"type": "base64", "media_type": "text/plain", "data": "aGk="},
}


def test_each_source_parses_into_a_part_the_gateway_reads() -> None:
    request = chat_request_from_openai(_request(URL, STORED, INLINE))
    url, stored, inline = request.messages[0].content
    assert url == DocumentPart(media_type="", url="https://example.com/r.pdf", by_gateway=True)
    assert stored == DocumentPart(
        media_type="",
        storage=StorageRef("local", "rag-docs", "a/b.md"),
        filename="b.md",
        by_gateway=True,
    )
    assert inline == DocumentPart(media_type="text/plain", data="aGk=", by_gateway=True)


def test_a_part_is_written_back_as_it_came() -> None:
    request = chat_request_from_openai(_request(URL, STORED, INLINE))
    assert message_to_openai(request.messages[0])["content"] == [URL, STORED, INLINE]


def test_submission_checks_see_documents_the_gateway_reads_as_text() -> None:
    request = chat_request_from_openai(_request(URL, STORED))
    assert not request.needs_documents
    checked = request.gateway_documents_as_text()
    assert checked.messages[0].content == (TextPart(""), TextPart(""))


@pytest.mark.parametrize(
    ("source", "param"),
    [
        ({"type": "ftp", "url": "ftp://x"}, "messages[0].content[0].source.type"),
        ({"type": "url", "url": "file:///etc/passwd"}, "messages[0].content[0].source.url"),
        ({"type": "storage", "route": "local", "bucket": "b"}, "messages[0].content[0].source"),
        ({"type": "base64", "media_type": "text/plain", "data": ""}, None),
    ],
)
def test_a_malformed_source_is_refused_naming_the_field(
    source: dict[str, Any], param: str | None
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        chat_request_from_openai(_request({"type": "document", "source": source}))
    assert refused.value.status_code == 400
    assert (refused.value.param or "").startswith(param or "messages[0].content[0].source")


def test_only_user_messages_carry_documents() -> None:
    body = {"model": "m", "messages": [{"role": "system", "content": [URL]}]}
    with pytest.raises(InvalidRequest, match="only allowed in user messages"):
        chat_request_from_openai(body)
