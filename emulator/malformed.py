"""Broken *successful* answers: the ``malformed`` directive (:mod:`emulator.directives`).

A provider that answers 200 with something unreadable (a proxy's HTML page, a body cut
short, a JSON value of the wrong shape) is rare but real, and every client must turn it
into an error of its own rather than crash. Each kind is built from the reply the protocol
would have sent, so only the one defect differs:

======================  ==========================================================
kind                    body (status 200)
======================  ==========================================================
``invalid_json``        text that is not JSON, sent as ``application/json``
``not_object``          a JSON array, ``application/json``
``truncated``           the first half of the real body (``Content-Length`` matches)
``wrong_content_type``  an HTML error page, ``text/html``
``missing_fields``      the real body without :attr:`Protocol.answer_field`
======================  ==========================================================

A streamed request gets the same non-streamed body: the defect is the point, not the framing.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from emulator.directives import Malformation

_JSON = "application/json"
INVALID_JSON = b"{this is not JSON (emulated malformed reply)"
NOT_OBJECT = b'["not", "an", "object"]'
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service unavailable</title></head>"
    b"<body><h1>Service unavailable</h1><p>emulated malformed reply</p></body></html>"
)


def malformed_response(
    kind: Malformation, body: dict[str, Any], *, answer_field: str, headers: dict[str, str]
) -> Response:
    """A 200 carrying ``body`` (the reply the protocol rendered) broken as ``kind`` says."""
    content, media_type = _content(kind, body, answer_field)
    return Response(content, status_code=200, headers=headers, media_type=media_type)


def _content(kind: Malformation, body: dict[str, Any], answer_field: str) -> tuple[bytes, str]:
    if kind == "invalid_json":
        return INVALID_JSON, _JSON
    if kind == "not_object":
        return NOT_OBJECT, _JSON
    if kind == "truncated":
        full = orjson.dumps(body)
        return full[: len(full) // 2], _JSON
    if kind == "wrong_content_type":
        return HTML_PAGE, "text/html; charset=utf-8"
    without = {key: value for key, value in body.items() if key != answer_field}
    return orjson.dumps(without), _JSON
