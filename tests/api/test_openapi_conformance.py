"""The OpenAPI document states the API exactly: a schema-driven fuzz of every operation of
the live API (Schemathesis) finds no response the document does not describe.

Each operation gets a bounded number of generated requests, authenticated as tenant A, and
each response is checked: not a server error, its status documented, its content type
documented, its body valid against the documented schema. Blocking operations stay quick:
``wait``'s ``timeout`` has its maximum in the document, the generated ids name no job (an
unknown job answers at once), and the synchronous routes' generated requests name unknown
models (a 400) or, when they name a model, the emulator answers at once.
"""

from __future__ import annotations

from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from emulator import EmulatorControl
from tests.conftest import KEY_A
from tests.support.processes import Stack

EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
AUTH = {"Authorization": f"Bearer {KEY_A}"}


def _operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    )


# Collected from the app's document; the live one must list the same operations.
OPERATIONS = _operations(create_app().openapi())


@pytest.fixture(scope="module")
def live_document(stack: Stack) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{stack.api_url}/openapi.json").json()
    return document


@pytest.fixture
def live_schema(live_document: dict[str, Any]) -> BaseSchema:
    return schemathesis.openapi.from_dict(live_document)


def test_every_live_operation_is_fuzzed(live_document: dict[str, Any]) -> None:
    assert _operations(live_document) == OPERATIONS


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_operation_answers_as_documented(
    method: str, path: str, stack: Stack, emulator: EmulatorControl, live_schema: BaseSchema
) -> None:
    operation = live_schema[path][method]

    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    def answers_as_documented(case: Case) -> None:
        case.call_and_validate(base_url=stack.api_url, headers=AUTH, checks=CHECKS)

    answers_as_documented()
