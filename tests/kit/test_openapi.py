"""The kit's OpenAPI: every error answer is declared with the one JSON error model, and what a
service says matches what it answers — checked by schemathesis' conformance checks on a small app,
which also fail when an answer is not declared or a body is not its model."""

from __future__ import annotations

from typing import Annotated, Any

import schemathesis
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from hypothesis import HealthCheck, settings
from lookout_kit.app import create_service_app
from lookout_kit.auth.dependencies import bearer_scheme
from lookout_kit.errors import Conflict, NotFound, Unauthorized
from lookout_kit.settings import ServiceSettings
from pydantic import BaseModel, Field
from schemathesis import runner
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

schemathesis.experimental.OPEN_API_3_1.enable()

CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)
ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


class Widget(BaseModel):
    name: str = Field(min_length=1, max_length=10)
    size: int = Field(ge=0)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]

declared = APIRouter()


@declared.post("/widgets", status_code=201)
async def create_widget(widget: Widget, credentials: Credentials) -> Widget:
    if credentials is None:
        raise Unauthorized("a bearer access token is required")
    return widget


@declared.get("/widgets/{widget_id}", responses={404: {"description": "no such widget"}})
async def get_widget(widget_id: int) -> Widget:
    if widget_id % 2:
        raise NotFound("no such widget")
    return Widget(name="even", size=abs(widget_id))


@declared.get("/sizes")
async def sizes() -> list[int]:
    return [1, 2, 3]


undeclared_status = APIRouter()


@undeclared_status.post("/locks/{lock_id}")
async def take_lock(lock_id: int) -> dict[str, int]:
    raise Conflict("the lock is taken")


wrong_body = APIRouter()


@wrong_body.get("/gadgets/{gadget_id}")
async def get_gadget(gadget_id: int) -> Widget:
    # A body that is not its declared model (no ``size``), sent around FastAPI's own filtering.
    return JSONResponse({"name": "gadget"})  # type: ignore[return-value]


def app_of(*routers: APIRouter) -> FastAPI:
    # No lifespan is started: these routes need no database or broker.
    settings = ServiceSettings(service_name="kittest", kafka_bootstrap_servers="127.0.0.1:9")
    return create_service_app(
        settings, service_package="lookout_kit", title="t", routers=list(routers)
    )


def failed_checks(app: FastAPI) -> set[str]:
    """The names of the checks that failed on any operation when fuzzing ``app`` in process."""
    # The kit's own health and docs routes need a running service: only the routes above.
    schema = schemathesis.from_asgi("/openapi.json", app).exclude(tag=["health", "docs"])
    events = runner.from_schema(
        schema,
        checks=CHECKS,
        hypothesis_settings=settings(
            max_examples=25,
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    ).execute()
    failed: set[str] = set()
    for event in events:
        result: Any = getattr(event, "result", None)
        if result is None or not hasattr(result, "checks"):
            continue
        assert not result.errors, [error.exception for error in result.errors]
        failed |= {check.name for check in result.checks if check.value.name == "failure"}
    return failed


def test_every_error_answer_is_declared_with_the_kit_body() -> None:
    document = app_of(declared).openapi()
    create = document["paths"]["/widgets"]["post"]["responses"]
    assert set(create) == {"201", "401", "422"}
    for status in ("401", "422"):
        assert create[status]["content"]["application/json"]["schema"] == ERROR_REF
    one = document["paths"]["/widgets/{widget_id}"]["get"]["responses"]
    # A service's own words stay; no bearer token is read here, so no 401.
    assert set(one) == {"200", "404", "422"}
    assert one["404"]["description"] == "no such widget"
    assert one["404"]["content"]["application/json"]["schema"] == ERROR_REF
    assert set(document["paths"]["/sizes"]["get"]["responses"]) == {"200"}
    readyz = document["paths"]["/readyz"]["get"]["responses"]
    assert readyz["503"]["content"]["application/json"]["schema"] == ERROR_REF
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["ErrorResponse"]["required"] == ["error"]
    assert set(schemas["ErrorDetail"]["required"]) == {"code", "message", "details"}


def test_the_kit_answers_what_it_declares() -> None:
    assert failed_checks(app_of(declared)) == set()


def test_an_undeclared_status_fails_the_fuzz() -> None:
    assert failed_checks(app_of(undeclared_status)) == {"status_code_conformance"}


def test_a_body_that_is_not_its_model_fails_the_fuzz() -> None:
    assert failed_checks(app_of(wrong_body)) == {"response_schema_conformance"}
