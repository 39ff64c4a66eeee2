"""The emulator's Anthropic token-count endpoint, and documents checked and recorded in
the Anthropic and Bedrock Converse shapes."""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import boto3
import botocore.config
import botocore.exceptions
import httpx
import pytest

from emulator import EmulatorControl, directive

PDF = base64.b64encode(b"%PDF-1.4 tiny").decode()
CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_count_tokens_counts_the_prompt_as_a_message_would(
    claude: anthropic.Anthropic, control: EmulatorControl
) -> None:
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "system": "terse",
        "messages": [{"role": "user", "content": "count these words please"}],
    }
    counted = claude.messages.count_tokens(**request)
    message = claude.messages.create(max_tokens=8, **request)
    assert counted.input_tokens == message.usage.input_tokens > 0
    first = control.requests()[0]
    assert (first["path"], first["body"]["system"]) == ("/v1/messages/count_tokens", "terse")


def test_count_tokens_refuses_max_tokens_and_honours_a_scripted_failure(
    emulator_url: str, claude: anthropic.Anthropic
) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    refused = httpx.post(
        f"{emulator_url}/v1/messages/count_tokens", json=body, headers={"x-api-key": "k"}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "invalid_request_error"
    unauthenticated = httpx.post(f"{emulator_url}/v1/messages/count_tokens", json=body)
    assert unauthenticated.status_code == 401
    limited = directive(status=429, retry_after=3)
    with pytest.raises(anthropic.RateLimitError) as info:
        claude.messages.count_tokens(model="m", messages=[{"role": "user", "content": limited}])
    assert info.value.response.headers["retry-after"] == "3"


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        ({"type": "base64", "media_type": "application/pdf", "data": PDF}, True),
        ({"type": "text", "media_type": "text/plain", "data": "words"}, True),
        ({"type": "url", "url": "https://x.test/a.pdf"}, True),
        ({"type": "base64", "media_type": "text/csv", "data": PDF}, False),
        ({"type": "file", "file_id": "f"}, False),
        ({"type": "url"}, False),
    ],
)
def test_anthropic_document_blocks_are_checked_and_recorded(
    claude: anthropic.Anthropic, control: EmulatorControl, source: dict[str, Any], ok: bool
) -> None:
    document = {"type": "document", "source": source}
    messages = [{"role": "user", "content": [document, {"type": "text", "text": "sum"}]}]
    if ok:
        claude.messages.create(model="m", max_tokens=8, messages=messages)  # type: ignore[arg-type]
        assert control.requests()[-1]["body"]["messages"][0]["content"][0] == document
    else:
        with pytest.raises(anthropic.BadRequestError, match="source"):
            claude.messages.create(model="m", max_tokens=8, messages=messages)  # type: ignore[arg-type]


@pytest.fixture
def bedrock(emulator_url: str, control: EmulatorControl) -> Any:
    session = boto3.session.Session(
        aws_access_key_id="AKIAEMULATORTEST0001", aws_secret_access_key="emulator-test-secret-01"
    )
    client = session.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=emulator_url,
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )
    yield client
    client.close()


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"format": "pdf", "name": "report", "source": {"bytes": b"%PDF"}}, None),
        ({"format": "svg", "name": "report", "source": {"bytes": b"x"}}, "format"),
        ({"format": "pdf", "name": "re_port.pdf", "source": {"bytes": b"x"}}, "name"),
        ({"format": "pdf", "name": "two  spaces", "source": {"bytes": b"x"}}, "name"),
    ],
)
def test_bedrock_document_blocks_are_checked_and_recorded(
    bedrock: Any, control: EmulatorControl, document: dict[str, Any], problem: str | None
) -> None:
    messages = [{"role": "user", "content": [{"document": document}, {"text": "sum"}]}]
    if problem is None:
        bedrock.converse(modelId=CLAUDE, messages=messages)
        recorded = control.requests()[-1]["body"]["messages"][0]["content"][0]["document"]
        assert recorded["source"]["bytes"] == base64.b64encode(b"%PDF").decode()
        return
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        bedrock.converse(modelId=CLAUDE, messages=messages)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert f"document.{problem}" in caught.value.response["Error"]["Message"]
