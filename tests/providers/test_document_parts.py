"""Document content parts (``DocumentPart``): parsed from OpenAI's ``file`` part, rendered
back, and mapped into each vendor's shape where the vendor reads documents; refused,
naming ``messages`` and the instance, where it does not."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gateway.errors import CapabilityMissing, InvalidRequest
from providers.anthropic_format import to_anthropic_request
from providers.bedrock_format import to_converse_request
from providers.config import InstanceConfig
from providers.ollama_format import chat_request_to_ollama
from providers.openai_format import chat_request_from_openai, chat_request_to_openai
from providers.registry import capabilities_of, check_request
from providers.types import ChatRequest, DocumentPart, Message, TextPart
from providers.vertex_format import gemini_request
from providers.watsonx_format import chat_request_to_watsonx

PDF = base64.b64encode(b"%PDF-1.4 tiny").decode()
TEXT = base64.b64encode(b"plain words").decode()


def with_document(document: DocumentPart) -> ChatRequest:
    message = Message("user", (document, TextPart("summarise")))
    return ChatRequest(model="m", messages=(message,))


def file_part(data: str, **more: Any) -> dict[str, Any]:
    return {"type": "file", "file": {"file_data": data, **more}}


# OpenAI's file part, the public format.


def test_a_file_part_parses_into_a_document_and_renders_back() -> None:
    part = file_part(f"data:application/pdf;base64,{PDF}", filename="report.pdf")
    body = {"model": "m", "messages": [{"role": "user", "content": [part]}]}
    request = chat_request_from_openai(body)
    assert request.messages[0].content == (
        DocumentPart("application/pdf", data=PDF, filename="report.pdf"),
    )
    assert request.needs_documents and not request.needs_vision
    assert chat_request_to_openai(request)["messages"][0]["content"] == [part]


def test_a_file_part_by_url_is_a_pdf_the_vendor_fetches() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": [file_part("https://x.test/a.pdf")]}],
    }
    [document] = chat_request_from_openai(body).messages[0].content
    assert document == DocumentPart("application/pdf", url="https://x.test/a.pdf")


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "user", "content": [file_part("not a data url")]}, "file.file_data"),
        ({"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}, "file_id"),
        ({"role": "user", "content": [{"type": "file"}]}, "file"),
        ({"role": "assistant", "content": [file_part("https://x.test/a.pdf")]}, "type"),
    ],
)
def test_malformed_file_parts_are_refused_naming_the_field(
    message: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        chat_request_from_openai({"model": "m", "messages": [message]})
    assert info.value.param is not None and info.value.param.endswith(param)


# Each vendor's shape.


def test_anthropic_takes_a_pdf_text_or_url_as_document_blocks() -> None:
    def block(document: DocumentPart) -> dict[str, Any]:
        request = to_anthropic_request(with_document(document), default_max_tokens=8)
        first: dict[str, Any] = request["messages"][0]["content"][0]
        return first

    assert block(DocumentPart("application/pdf", data=PDF, filename="r.pdf")) == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
        "title": "r.pdf",
    }
    assert block(DocumentPart("text/plain", data=TEXT))["source"] == {
        "type": "text",
        "media_type": "text/plain",
        "data": "plain words",
    }
    assert block(DocumentPart("application/pdf", url="https://x.test/a.pdf"))["source"] == {
        "type": "url",
        "url": "https://x.test/a.pdf",
    }
    with pytest.raises(InvalidRequest, match="PDF and text/plain"):
        block(DocumentPart("text/csv", data=TEXT))


def test_bedrock_takes_document_bytes_with_a_format_and_a_name() -> None:
    def document(part: DocumentPart) -> dict[str, Any]:
        found: dict[str, Any] = to_converse_request(with_document(part))["messages"][0]["content"][
            0
        ]["document"]
        return found

    pdf = document(DocumentPart("application/pdf", data=PDF, filename="Q3 report (final).pdf"))
    assert pdf == {
        "format": "pdf",
        "name": "Q3 report (final)",
        "source": {"bytes": base64.b64decode(PDF)},
    }
    assert document(DocumentPart("text/markdown", data=TEXT))["name"] == "document 1"
    assert document(DocumentPart("text/csv", data=TEXT, filename="a_b.csv"))["name"] == "a-b"
    with pytest.raises(InvalidRequest, match="inline, not by URL"):
        document(DocumentPart("application/pdf", url="https://x.test/a.pdf"))
    with pytest.raises(InvalidRequest, match="does not read image/svg"):
        document(DocumentPart("image/svg+xml", data=TEXT))
    with pytest.raises(InvalidRequest, match="not valid base64"):
        document(DocumentPart("application/pdf", data="***"))


def test_vertex_takes_inline_data_or_an_https_file() -> None:
    def part(document: DocumentPart) -> dict[str, Any]:
        found: dict[str, Any] = gemini_request(with_document(document))["contents"][0]["parts"][0]
        return found

    assert part(DocumentPart("application/pdf", data=PDF)) == {
        "inlineData": {"mimeType": "application/pdf", "data": PDF}
    }
    assert part(DocumentPart("application/pdf", url="https://x.test/a.pdf")) == {
        "fileData": {"mimeType": "application/pdf", "fileUri": "https://x.test/a.pdf"}
    }
    with pytest.raises(InvalidRequest, match="https:// URL or inline data"):
        part(DocumentPart("application/pdf", url="http://x.test/a.pdf"))


def test_openai_takes_the_file_part_as_is() -> None:
    body = chat_request_to_openai(with_document(DocumentPart("application/pdf", data=PDF)))
    assert body["messages"][0]["content"][0] == file_part(f"data:application/pdf;base64,{PDF}")


def test_adapters_without_documents_refuse_them_even_when_told_they_can() -> None:
    request = with_document(DocumentPart("application/pdf", data=PDF))
    with pytest.raises(InvalidRequest, match="Ollama does not accept documents"):
        chat_request_to_ollama(request)
    with pytest.raises(InvalidRequest, match=r"watsonx\.ai does not accept documents"):
        chat_request_to_watsonx(request, project_id="p")


# The capability check, before anything is queued.


@pytest.mark.parametrize(
    ("kind", "documents"),
    [
        ("openai", True),
        ("azure_openai", True),
        ("anthropic", True),
        ("bedrock", True),
        ("vertex", True),
        ("ollama", False),
        ("watsonx", False),
        ("oci", False),
    ],
)
def test_each_type_states_whether_it_reads_documents(kind: str, documents: bool) -> None:
    config = InstanceConfig(name="x", type=kind)
    assert capabilities_of(config).documents is documents


@pytest.mark.parametrize("kind", ["ollama", "watsonx", "oci"])
def test_a_document_is_refused_where_the_type_reads_none(kind: str) -> None:
    config = InstanceConfig(name="local", type=kind)
    request = with_document(DocumentPart("application/pdf", data=PDF))
    with pytest.raises(CapabilityMissing, match=r"'local' .*does not accept documents") as info:
        check_request(config, request)
    assert info.value.param == "messages"


def test_an_instance_can_turn_documents_off() -> None:
    config = InstanceConfig(name="cheap", type="openai", capabilities={"documents": False})
    with pytest.raises(CapabilityMissing, match="does not accept documents"):
        check_request(config, with_document(DocumentPart("application/pdf", data=PDF)))


@pytest.mark.parametrize(("kind", "fetches"), [("anthropic", True), ("openai", False)])
def test_a_document_by_url_goes_only_where_the_vendor_fetches_it(kind: str, fetches: bool) -> None:
    config = InstanceConfig(name="x", type=kind)
    request = with_document(DocumentPart("application/pdf", url="https://x.test/a.pdf"))
    if fetches:
        check_request(config, request)
    else:
        with pytest.raises(CapabilityMissing, match="by URL"):
            check_request(config, request)
