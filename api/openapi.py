"""The OpenAPI document, finished where FastAPI's generator cannot know the API:

- how callers authenticate (a bearer token or ``X-API-Key``; ``api.deps`` reads the
  headers itself, so no FastAPI security dependency declares them);
- that the only 422 is the gateway's error shape (FastAPI adds its ``HTTPValidationError``
  to every route with parameters that does not document a 422 of its own);
- that errors are JSON even where the success is a stream;
- bounds that are settings, known once the app has started (``wait``'s ``timeout``);
- the ``document`` content part of chat messages, which FastAPI sees as free-form JSON.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.schemas.documents import DocumentContentPart
from gateway.settings import Settings

_FASTAPI_422 = "#/components/schemas/HTTPValidationError"
_SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "an API key"},
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with a builder that finishes FastAPI's document (cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, routes=app.routes, servers=app.servers
            )
            settings: Settings | None = getattr(app.state, "settings", None)
            app.openapi_schema = finish(document, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def finish(document: dict[str, Any], settings: Settings | None) -> dict[str, Any]:
    components = document.setdefault("components", {})
    components["securitySchemes"] = _SECURITY_SCHEMES
    for path, operations in document["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            _drop_fastapi_422(responses)
            _errors_are_json(responses)
            if path.startswith("/v1/"):
                operation["security"] = [{name: []} for name in _SECURITY_SCHEMES]
            if settings is not None and path == "/v1/jobs/{job_id}/wait":
                _bound(operation, "timeout", settings.wait_max_seconds)
    schemas = components.setdefault("schemas", {})
    _document_part(schemas)
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return document


def _document_part(schemas: dict[str, Any]) -> None:
    """The chat request's ``document`` content part: messages are free-form JSON to
    FastAPI (one parser judges them), so the part's schema is added, and pointed to from
    the chat request's ``messages``."""
    ref = "#/components/schemas/{model}"
    schema = DocumentContentPart.model_json_schema(ref_template=ref)
    schemas.update(schema.pop("$defs", {}))
    schemas["DocumentContentPart"] = schema
    for name in ("ChatCompletionRequest", "CompletionRequest"):
        messages = schemas.get(name, {}).get("properties", {}).get("messages")
        if messages is not None:
            messages["description"] = (
                "OpenAI's chat messages; a user message's content may also hold "
                "`document` parts (#/components/schemas/DocumentContentPart)"
            )


def _drop_fastapi_422(responses: dict[str, Any]) -> None:
    """A route whose parameters cannot fail validation (a plain string in the path)
    documents no 422; FastAPI's own then is the only one, and it is never sent."""
    content = responses.get("422", {}).get("content", {})
    if content.get("application/json", {}).get("schema", {}).get("$ref") == _FASTAPI_422:
        del responses["422"]


def _errors_are_json(responses: dict[str, Any]) -> None:
    """FastAPI files every response's model under the route's media type; an error from a
    streaming route is still ``application/json``."""
    for status, response in responses.items():
        content = response.get("content")
        if status.startswith(("4", "5")) and content and "application/json" not in content:
            (schema,) = content.values()
            response["content"] = {"application/json": schema}


def _bound(operation: dict[str, Any], name: str, maximum: float) -> None:
    for parameter in operation.get("parameters", []):
        if parameter["name"] == name:
            parameter["schema"]["maximum"] = maximum
