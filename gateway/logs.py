"""structlog set-up: JSON lines with correlation ids bound through contextvars.

A redaction processor masks any value whose key looks like a credential, so an API key or
provider key passed to a log call by mistake is never written out.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# A key is split into words (``_``, ``-``, ``.``, spaces, camelCase) and judged by them, so
# ``access_token``, ``x-api-key`` and ``clientSecret`` are masked while ``prompt_tokens``,
# ``max_tokens`` and ``token_count`` (counts, not credentials) stay readable.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Words that make any key a secret's wherever they stand.
_SECRET_WORDS = frozenset(
    {
        "authorization",
        "apikey",
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "secrets",
        "credential",
        "credentials",
        "signature",
        "cookie",
        "jwt",
    }
)
# ``<x> key`` is a secret for these ``x`` (``api_key``, ``aws_secret_access_key``).
_KEY_QUALIFIERS = frozenset({"api", "access", "private", "secret", "signing", "encryption"})


# Log lines repeat the same few keys (``method``, ``status``, ``request_id``...): judging each
# once saves a regex split per key per line on every request's path.
@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a credential (its value is then masked)."""
    words = [w.lower() for w in _WORD.findall(key)]
    if not words:
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    # ``token`` as the last word: ``token``, ``access_token``, ``x-session-token``.
    if words[-1] == "token":
        return True
    return any(
        word == "key" and prev in _KEY_QUALIFIERS for prev, word in itertools.pairwise(words)
    )


# Bearer tokens and common provider key shapes, in case one is interpolated into a message.
_SECRET_VALUE = re.compile(r"(Bearer\s+\S+|sk-[A-Za-z0-9_\-]{8,}|sk-ant-[A-Za-z0-9_\-]{8,})")
REDACTED = "[redacted]"


def _redact(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return _SECRET_VALUE.sub(REDACTED, value)
    if depth > 8:
        return value
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and is_secret_key(k) else _redact(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v, depth + 1) for v in value]
    return value


def redact_secrets(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask credential-looking keys and values, nested ones and
    formatted exceptions included."""
    for key, value in list(event_dict.items()):
        if key != "event" and is_secret_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(value)
    return event_dict


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    """Route structlog and stdlib logging (uvicorn, celery) through one JSON renderer."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Exceptions become text before redaction, so a key inside a message or traceback
        # is masked like any other value.
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        # Level filter first: a debug line below the threshold costs a level check, no more.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Access logs would double every request line; the API logs its own request summary.
    logging.getLogger("uvicorn.access").disabled = True
    # SDK loggers: at DEBUG some log whole requests (botocore: bodies; urllib3: URLs).
    noisy_sdks = ("botocore", "boto3", "urllib3", "oci", "azure", "google.auth", "msal")
    for noisy in ("httpx", "httpx2", "httpcore", "openai", "anthropic", *noisy_sdks):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
