"""The AWS event stream encoding (``application/vnd.amazon.eventstream``), which Bedrock's
ConverseStream answers in and boto3 decodes (``botocore.eventstream``).

Each message is binary: a prelude (total length, headers length, their CRC32), headers (a
name, a type byte, 7 for a string, a length and the value), the payload, and a CRC32 of
everything before it. An event carries ``:message-type: event``, its ``:event-type`` and a
JSON payload; an error after the 200 is a message of type ``exception`` naming the exception
in ``:exception-type``.
"""

from __future__ import annotations

import binascii
import struct
from typing import Any

import orjson

MEDIA_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7


def message(headers: dict[str, str], payload: bytes) -> bytes:
    """One encoded message."""
    encoded = b"".join(
        bytes([len(name)])
        + name.encode()
        + bytes([_STRING])
        + struct.pack("!H", len(value))
        + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack("!II", 16 + len(encoded) + len(payload), len(encoded))
    head = prelude + struct.pack("!I", binascii.crc32(prelude))
    body = head + encoded + payload
    return body + struct.pack("!I", binascii.crc32(body))


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    """An event message with a JSON payload."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return message(headers, orjson.dumps(payload))


def exception(exception_type: str, text: str) -> bytes:
    """An exception message, as the service sends a failure mid-stream."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return message(headers, orjson.dumps({"message": text}))


def corrupted(encoded: bytes) -> bytes:
    """``encoded`` with its message CRC broken: a client must refuse it."""
    return encoded[:-4] + bytes(b ^ 0xFF for b in encoded[-4:])
