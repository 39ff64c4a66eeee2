"""Text extraction by media type: plain text and Markdown as they are, HTML without its
markup, PDF through pypdf; what cannot be read is ``document_unavailable``."""

from __future__ import annotations

import pytest

from gateway.errors import DocumentUnavailable
from tasks.documents.extract import check_pdf, extract_text
from tests.support.pdfs import BROKEN_PDF, pdf_with_text


def test_a_pdf_gives_the_text_of_every_page() -> None:
    pdf = pdf_with_text("Quarterly report\nRevenue grew (a lot)", "Page two says hello")
    text = extract_text("application/pdf", pdf)
    assert "Quarterly report" in text
    assert "Revenue grew (a lot)" in text
    assert text.index("Revenue") < text.index("Page two says hello")


def test_a_pdf_that_cannot_be_parsed_is_unavailable() -> None:
    with pytest.raises(DocumentUnavailable, match="the PDF cannot be parsed"):
        extract_text("application/pdf", BROKEN_PDF)


def test_bytes_that_are_no_pdf_at_all_are_unavailable() -> None:
    with pytest.raises(DocumentUnavailable, match="the PDF cannot be parsed"):
        extract_text("application/pdf", b"hello, I am plain text")


def test_a_pdf_for_a_provider_is_checked_to_open_without_extracting_it() -> None:
    check_pdf(pdf_with_text("fine"))
    for broken in (BROKEN_PDF, b"hello, I am plain text"):
        with pytest.raises(DocumentUnavailable, match="the PDF cannot be parsed"):
            check_pdf(broken)


def test_html_loses_its_markup_scripts_and_styles() -> None:
    page = (
        b"<html><head><title>T</title><style>p{}</style></head><body>"
        b"<h1>Title &amp; more</h1><script>alert(1)</script><p>First  para</p>"
        b"<p>Second</p></body></html>"
    )
    assert extract_text("text/html", page) == "Title & more\nFirst para\nSecond"


@pytest.mark.parametrize("media_type", ["text/plain", "text/markdown"])
def test_text_and_markdown_are_kept_as_they_are(media_type: str) -> None:
    body = "\ufeff# Heading\n\n*emphasis* stays\n".encode()
    assert extract_text(media_type, body) == "# Heading\n\n*emphasis* stays\n"


def test_text_that_is_not_utf8_is_unavailable() -> None:
    with pytest.raises(DocumentUnavailable, match="not valid UTF-8"):
        extract_text("text/plain", b"\xff\xfe\xfa")
