"""The emulated Bedrock Converse endpoint: SigV4 auth check, AWS error shape, validation,
and ConverseStream's binary event stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import httpx
import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from emulator import EmulatorControl, directive
from emulator.protocols import aws_eventstream

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
AMZ_DATE = "20250101T120000Z"
SIGNATURE = "0123456789abcdef" * 4
GOOD_AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIAEMULATORTEST0001/20250101/us-east-1/bedrock/aws4_request, "
    f"SignedHeaders=content-type;host;x-amz-date, Signature={SIGNATURE}"
)
HELLO = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


@pytest.fixture
def bedrock(emulator_url: str, control: EmulatorControl) -> Iterator[Any]:
    """boto3's bedrock-runtime client pointed at the emulator, retries off."""
    session = boto3.session.Session(
        aws_access_key_id="AKIAEMULATORTEST0001", aws_secret_access_key="emulator-test-secret-01"
    )
    client = session.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=emulator_url,
        config=botocore.config.Config(retries={"total_max_attempts": 1}, signature_version="v4"),
    )
    yield client
    client.close()


def post(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{url}/model/{MODEL}/converse", json=HELLO, headers=headers)


def test_a_well_formed_sigv4_request_is_answered(
    emulator_url: str, control: EmulatorControl
) -> None:
    reply = post(emulator_url, {"Authorization": GOOD_AUTH, "X-Amz-Date": AMZ_DATE})
    assert reply.status_code == 200
    assert reply.json()["output"]["message"] == {
        "role": "assistant",
        "content": [{"text": "echo: hi"}],
    }
    assert reply.headers["x-amzn-requestid"]
    record = control.requests()[-1]
    assert (record["protocol"], record["model"]) == ("bedrock", MODEL)
    # The credential scope is recorded; the signature never is.
    assert record["auth"]["region"] == "us-east-1"
    assert SIGNATURE not in str(record)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer sk-something"},
        {"authorization": GOOD_AUTH},  # no x-amz-date
        {"authorization": GOOD_AUTH, "x-amz-date": "20240101T120000Z"},  # scope date differs
        {"authorization": GOOD_AUTH.replace("/bedrock/", "/s3/"), "x-amz-date": AMZ_DATE},
        {"authorization": GOOD_AUTH.replace("host;", ""), "x-amz-date": AMZ_DATE},
        {"authorization": GOOD_AUTH.replace(SIGNATURE, "abc"), "x-amz-date": AMZ_DATE},
    ],
    ids=[
        "no header",
        "bearer",
        "no x-amz-date",
        "date mismatch",
        "other service",
        "host not signed",
        "short signature",
    ],
)
def test_anything_but_a_sigv4_signature_is_403_access_denied(
    emulator_url: str, control: EmulatorControl, headers: dict[str, str]
) -> None:
    reply = post(emulator_url, headers)
    assert reply.status_code == 403
    assert reply.headers["x-amzn-errortype"] == "AccessDeniedException"
    assert set(reply.json()) == {"message"}
    assert "auth" not in control.requests()[-1]


@pytest.mark.parametrize(
    ("status", "error_type", "exception"),
    [
        (400, "ValidationException", "ValidationException"),
        (404, "ResourceNotFoundException", "ResourceNotFoundException"),
        (408, "ModelTimeoutException", "ModelTimeoutException"),
        (424, "ModelErrorException", "ModelErrorException"),
        (429, "ThrottlingException", "ThrottlingException"),
        (500, "InternalServerException", "InternalServerException"),
        (503, "ServiceUnavailableException", "ServiceUnavailableException"),
    ],
)
def test_scripted_errors_are_botocore_modeled_exceptions(
    bedrock: Any, status: int, error_type: str, exception: str
) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        bedrock.converse(
            modelId=MODEL,
            messages=[
                {"role": "user", "content": [{"text": directive(status=status, error="no")}]}
            ],
        )
    assert type(caught.value).__name__ == exception
    error = caught.value.response
    assert (error["Error"]["Code"], error["Error"]["Message"]) == (error_type, "no")
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status


@pytest.mark.parametrize(
    ("messages", "fields", "message"),
    [
        ([{"role": "assistant", "content": [{"text": "hi"}]}], {}, "start with a user message"),
        (
            [
                {"role": "user", "content": [{"text": "a"}]},
                {"role": "user", "content": [{"text": "b"}]},
            ],
            {},
            "alternate",
        ),
        ([{"role": "user", "content": [{"text": " "}]}], {}, "non-empty"),
        (
            [
                {"role": "user", "content": [{"text": "a"}]},
                {
                    "role": "assistant",
                    "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}],
                },
                {
                    "role": "user",
                    "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "r"}]}}],
                },
            ],
            {},
            "toolConfig field must be defined",
        ),
    ],
    ids=[
        "starts with assistant",
        "same role twice",
        "blank text",
        "tool blocks without toolConfig",
    ],
)
def test_requests_converse_refuses_are_validation_exceptions(
    bedrock: Any, messages: list[dict[str, Any]], fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        bedrock.converse(modelId=MODEL, messages=messages, **fields)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert message in caught.value.response["Error"]["Message"]


def test_json_tool_results_feed_the_default_reply(bedrock: Any, control: EmulatorControl) -> None:
    tool = {"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}
    response = bedrock.converse(
        modelId=MODEL,
        messages=[
            {"role": "user", "content": [{"text": "go"}]},
            {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}],
            },
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "t1", "content": [{"json": {"song": "x"}}]}}
                ],
            },
        ],
        toolConfig={"tools": [tool]},
    )
    assert response["output"]["message"]["content"] == [{"text": 'tool results: {"song":"x"}'}]
    assert response["stopReason"] == "end_turn"
    assert control.requests()[-1]["turn"] == 1


def test_event_stream_messages_decode_with_botocore_and_a_corrupted_one_is_refused() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(aws_eventstream.event("messageStop", {"stopReason": "end_turn"}))
    buffer.add_data(aws_eventstream.exception("throttlingException", "slow down"))
    stop, failure = list(buffer)
    assert stop.headers == {
        ":event-type": "messageStop",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(stop.payload) == {"stopReason": "end_turn"}
    assert failure.headers[":exception-type"] == "throttlingException"
    assert json.loads(failure.payload) == {"message": "slow down"}

    broken = EventStreamBuffer()
    broken.add_data(aws_eventstream.corrupted(aws_eventstream.event("x", {})))
    with pytest.raises(ChecksumMismatch):
        list(broken)
