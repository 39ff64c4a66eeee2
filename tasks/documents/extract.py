"""A document's text, by media type: plain text and Markdown as they are, HTML without its
markup, PDF through ``pypdf``. Anything that cannot be read is ``DocumentUnavailable``."""

from __future__ import annotations

import io
import logging
from html.parser import HTMLParser
from typing import Any

from gateway.errors import DocumentUnavailable
from gateway.outbound_http import decoded_text

PDF = "application/pdf"
HTML = "text/html"
# Markdown's registered type and the spellings servers still send.
MARKDOWN = frozenset({"text/markdown", "text/x-markdown", "application/markdown"})
# Elements whose text is not the page's (scripts, styles, metadata).
_SKIPPED = frozenset({"script", "style", "head", "template", "noscript"})
_BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})


def extract_text(media_type: str, body: bytes) -> str:
    """The text of ``body`` read as ``media_type`` (one of the allowed document types)."""
    if media_type == PDF:
        return _pdf_text(body)
    text = decoded_text(body)
    if media_type == HTML:
        return _html_text(text)
    return text


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED and self._skipping:
            self._skipping -= 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html_text(html: str) -> str:
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    lines = (" ".join(line.split()) for line in "".join(collector.parts).splitlines())
    return "\n".join(line for line in lines if line)


def check_pdf(body: bytes) -> None:
    """``DocumentUnavailable`` unless ``body`` opens as a PDF whose pages can be found: what
    a PDF given to a provider natively must pass, without the cost of extracting its text
    (a tenth of it for a 100 KB document)."""
    _pdf_pages(body)


def _pdf_pages(body: bytes) -> list[Any]:
    from pypdf import PdfReader  # only workers that meet a PDF pay for the import

    # pypdf logs (not raises) what it repairs; a PDF it cannot read raises below.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(body), strict=False)
        if reader.is_encrypted:
            raise DocumentUnavailable("the PDF is encrypted")
        return list(reader.pages)
    except DocumentUnavailable:
        raise
    except Exception as exc:  # pypdf raises many kinds for a broken file
        raise DocumentUnavailable(f"the PDF cannot be parsed ({type(exc).__name__})") from None


def _pdf_text(body: bytes) -> str:
    try:
        pages = [page.extract_text() or "" for page in _pdf_pages(body)]
    except DocumentUnavailable:
        raise
    except Exception as exc:
        raise DocumentUnavailable(f"the PDF cannot be parsed ({type(exc).__name__})") from None
    return "\n\n".join(text.strip() for text in pages).strip()
