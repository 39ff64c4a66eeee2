"""The emulated OCI chat protocol over HTTP: its signature check, validation and shapes.

Requests are hand-made here so each part of the ``Signature`` header can be left out; the
adapter tests cover the official SDK's signed requests.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive

PATH = "/20231130/actions/chat"
KEY_ID = "ocid1.tenancy.oc1..t/ocid1.user.oc1..u/aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99"
SIGNED = "date (request-target) host content-length content-type x-content-sha256"
SIGNATURE = base64.b64encode(b"\x01" * 256).decode()


def authorization(**overrides: str) -> str:
    params = {
        "version": "1",
        "keyId": KEY_ID,
        "algorithm": "rsa-sha256",
        "headers": SIGNED,
        "signature": SIGNATURE,
        **overrides,
    }
    return "Signature " + ",".join(f'{k}="{v}"' for k, v in params.items())


def signed_headers(**overrides: str) -> dict[str, str]:
    return {
        "authorization": authorization(),
        "date": "Thu, 05 Jan 2025 21:31:40 GMT",
        "x-content-sha256": base64.b64encode(b"\x00" * 32).decode(),
        **overrides,
    }


def chat_details(*messages: dict[str, Any], **chat: Any) -> dict[str, Any]:
    return {
        "compartmentId": "ocid1.compartment.oc1..c",
        "servingMode": {"servingType": "ON_DEMAND", "modelId": "xai.grok-3"},
        "chatRequest": {"apiFormat": "GENERIC", "messages": list(messages), **chat},
    }


def user(text: str) -> dict[str, Any]:
    return {"role": "USER", "content": [{"type": "TEXT", "text": text}]}


def post(url: str, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        url + PATH, json=body, headers=signed_headers() if headers is None else headers
    )


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-authorization"),
        pytest.param({"authorization": "Bearer abc"}, id="bearer-instead-of-signature"),
        pytest.param(signed_headers(authorization=authorization(version="2")), id="version"),
        pytest.param(signed_headers(authorization=authorization(keyId="just-a-key")), id="key-id"),
        pytest.param(
            signed_headers(authorization=authorization(algorithm="hmac-sha256")), id="algorithm"
        ),
        pytest.param(
            signed_headers(authorization=authorization(headers="date (request-target) host")),
            id="body-headers-not-signed",
        ),
        pytest.param(signed_headers(authorization=authorization(signature="!!")), id="signature"),
        pytest.param({"authorization": authorization(), "date": "x"}, id="no-x-content-sha256"),
    ],
)
def test_requests_without_a_complete_oci_signature_get_401_not_authenticated(
    emulator_url: str, control: EmulatorControl, headers: dict[str, str]
) -> None:
    response = post(emulator_url, chat_details(user("hi")), headers)
    assert response.status_code == 401
    assert response.json()["code"] == "NotAuthenticated"
    assert response.headers["opc-request-id"]


def test_a_signed_request_is_answered_in_the_generic_format(
    emulator_url: str, control: EmulatorControl
) -> None:
    response = post(emulator_url, chat_details(user("hello")))
    assert response.status_code == 200
    assert response.headers["opc-request-id"]
    body = response.json()
    assert body["modelId"] == "xai.grok-3"
    chat = body["chatResponse"]
    assert chat["apiFormat"] == "GENERIC"
    assert chat["choices"][0]["message"] == {
        "role": "ASSISTANT",
        "content": [{"type": "TEXT", "text": "echo: hello"}],
    }
    assert chat["choices"][0]["finishReason"] == "stop"
    assert set(chat["usage"]) == {"promptTokens", "completionTokens", "totalTokens"}
    [record] = control.requests()
    assert record["auth"] == {"scheme": "Signature", "key_id": KEY_ID, "signed_headers": SIGNED}


def test_the_model_of_a_dedicated_endpoint_is_its_endpoint_id(
    emulator_url: str, control: EmulatorControl
) -> None:
    body = chat_details(user("hi"))
    body["servingMode"] = {"servingType": "DEDICATED", "endpointId": "ocid1.generativeaiendpoint.x"}
    assert post(emulator_url, body).json()["modelId"] == "ocid1.generativeaiendpoint.x"


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        pytest.param({"servingMode": {}, "chatRequest": {}}, "compartmentId", id="compartment"),
        pytest.param(
            {**chat_details(user("x")), "servingMode": {"servingType": "ON_DEMAND"}},
            "modelId",
            id="model",
        ),
        pytest.param(chat_details(user("x"), apiFormat="COHERE"), "GENERIC", id="cohere-format"),
        pytest.param(chat_details(), "messages", id="no-messages"),
        pytest.param(chat_details({"role": "user", "content": []}), "role", id="lower-case-role"),
    ],
)
def test_invalid_chat_details_get_400_invalid_parameter(
    emulator_url: str, control: EmulatorControl, body: dict[str, Any], mentions: str
) -> None:
    response = post(emulator_url, body)
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidParameter"
    assert mentions in response.json()["message"]


def test_scripted_errors_use_oci_codes_and_keep_retry_after(
    emulator_url: str, control: EmulatorControl
) -> None:
    response = post(emulator_url, chat_details(user(directive(status=429, retry_after=3))))
    assert response.status_code == 429
    assert response.json() == {"code": "TooManyRequests", "message": "Too Many Requests (emulated)"}
    assert response.headers["retry-after"] == "3"


def test_tool_results_after_the_last_user_message_end_the_tool_loop(
    emulator_url: str, control: EmulatorControl
) -> None:
    script = directive(tool_calls=[{"name": "lookup", "arguments": {"q": "x"}}])
    first = post(emulator_url, chat_details(user(script))).json()["chatResponse"]["choices"][0]
    [call] = first["message"]["toolCalls"]
    assert (call["type"], call["name"], call["arguments"]) == ("FUNCTION", "lookup", '{"q":"x"}')
    assert first["message"]["content"] is None
    assert first["finishReason"] == "tool_calls"
    result = {"role": "TOOL", "toolCallId": call["id"], "content": [{"type": "TEXT", "text": "42"}]}
    second = post(emulator_url, chat_details(user(script), first["message"], result)).json()
    assert second["chatResponse"]["choices"][0]["message"]["content"][0]["text"] == (
        "tool results: 42"
    )


def test_streaming_sends_data_only_events_ending_with_the_finish_reason(
    emulator_url: str, control: EmulatorControl
) -> None:
    response = post(emulator_url, chat_details(user("two words"), isStream=True))
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert len(events) >= 3
    assert '"finishReason":"stop"' in events[-1]


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_response_format_json_schema_gets_a_conforming_reply(
    emulator_url: str, control: EmulatorControl
) -> None:
    fmt = {"type": "JSON_SCHEMA", "jsonSchema": {"name": "weather", "schema": SCHEMA}}
    body = post(emulator_url, chat_details(user("weather"), responseFormat=fmt, seed=4)).json()
    [part] = body["chatResponse"]["choices"][0]["message"]["content"]
    assert set(json.loads(part["text"])) == {"city"}


@pytest.mark.parametrize(
    ("fields", "mentions"),
    [
        ({"responseFormat": {"type": "json_schema"}}, "responseFormat.type"),
        ({"responseFormat": {"type": "JSON_SCHEMA", "jsonSchema": {}}}, "jsonSchema.name"),
        ({"reasoningEffort": "low"}, "reasoningEffort"),
        ({"seed": "4"}, "seed"),
        ({"isParallelToolCalls": "no"}, "isParallelToolCalls"),
        ({"metadata": ["a"]}, "metadata"),
    ],
)
def test_malformed_generation_fields_get_400_invalid_parameter(
    emulator_url: str, control: EmulatorControl, fields: dict[str, Any], mentions: str
) -> None:
    response = post(emulator_url, chat_details(user("x"), **fields))
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidParameter"
    assert mentions in response.json()["message"]
