"""``BodyRoute``: the route class of every router whose operations take a JSON body.

FastAPI reads a body with ``Request.json()`` and then validates it against the operation's
model, both on the event loop. Here ``json()`` parses strictly (``api.json_body``) and, for
a body of ``Settings.offload_body_bytes`` or more, parses *and validates* it in a worker
thread (``api.offload``): it hands FastAPI the validated model, which FastAPI's own
validation passes through unchanged. A validation error found in the thread is raised as
FastAPI would raise it, so every body gets the same 422 whatever its size.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from api.json_body import parse_json_body
from gateway.offload import Offload


class BodyRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        annotation = self.body_field.field_info.annotation if self.body_field else None
        model = annotation if isinstance(annotation, type) else None
        body_model = model if model is not None and issubclass(model, BaseModel) else None

        async def handle(request: Request) -> Response:
            return await handler(_BodyRequest(request.scope, request.receive, body_model))

        return handle


class _BodyRequest(Request):
    def __init__(self, scope: Any, receive: Any, model: type[BaseModel] | None) -> None:
        super().__init__(scope, receive)
        self._model = model

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            offload: Offload = self.app.state.services.offload
            if self._model is None or not offload.wanted(len(body)):
                self._json = parse_json_body(body)
            else:
                model = self._model
                self._json = await offload.run(len(body), lambda: _parse_valid(body, model))
        return self._json


def _parse_valid(body: bytes, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(parse_json_body(body))
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
