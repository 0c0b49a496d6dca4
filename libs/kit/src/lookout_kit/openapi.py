"""The kit's part of every service's OpenAPI document: the JSON error model on every error answer.

Services declare which errors a route gives (``responses={404: {...}}``); the kit adds what follows
from a route's shape — 401 where a bearer token is read, 422 where anything is parsed — and gives
every 4xx/5xx answer the one body ``install_error_handlers`` writes (``ErrorResponse``), in place of
FastAPI's own ``HTTPValidationError``, which the kit never sends.
"""

from __future__ import annotations

import http
import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from lookout_kit.errors import ErrorResponse

_REF_PREFIX = "#/components/schemas/"
_ERROR_REF = {"$ref": f"{_REF_PREFIX}{ErrorResponse.__name__}"}
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
# FastAPI's own wording for a status it had no description for: replaced by the kit's.
_GENERIC = {"Additional Response", "Validation Error"}
_KIT_DESCRIPTIONS = {
    401: "no valid token (missing, malformed, expired or revoked)",
    422: "invalid input: the error's details say where",
}
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _description(status: int, current: str | None) -> str:
    if current and current not in _GENERIC and current != http.HTTPStatus(status).phrase:
        return current
    return _KIT_DESCRIPTIONS.get(status) or http.HTTPStatus(status).phrase


def _document_operation(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if operation.get("security"):
        responses.setdefault("401", {})
    if operation.get("parameters") or operation.get("requestBody"):
        responses.setdefault("422", {})
    for status_text, response in responses.items():
        if not status_text.isdigit() or int(status_text) < 400:
            continue
        status = int(status_text)
        response["description"] = _description(status, response.get("description"))
        response["content"] = {"application/json": {"schema": dict(_ERROR_REF)}}


def document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (an OpenAPI dict as FastAPI builds it) with the kit's error answers declared."""
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in _METHODS:
                _document_operation(operation)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorResponse.model_json_schema(ref_template=f"{_REF_PREFIX}{{model}}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas[ErrorResponse.__name__] = error_schema
    if f"{_REF_PREFIX}{_FASTAPI_VALIDATION[0]}" not in json.dumps(document.get("paths", {})):
        for name in _FASTAPI_VALIDATION:
            schemas.pop(name, None)
    return document


def install_error_documentation(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json``) declare the kit's error answers."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
