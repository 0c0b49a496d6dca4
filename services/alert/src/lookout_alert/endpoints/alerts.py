"""Alerts over HTTP: create, list, open, update, delete in the caller's tenant; the condition's
JSON Schema."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.security import HTTPAuthorizationCredentials
from lookout_kit.auth.dependencies import bearer_scheme
from lookout_kit.dependencies import CallerDep, PoolDep

from lookout_alert.schemas.alerts import Alert, AlertCreate, AlertPage, AlertUpdate
from lookout_alert.schemas.conditions import condition_json_schema
from lookout_alert.service import alerts
from lookout_alert.service.engine import EngineDep

router = APIRouter(tags=["alerts"])
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def token_of(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The caller's access token (``CallerDep`` has verified it): the datasource service is asked
    as the caller whether it may view the alert's saved query."""
    assert credentials is not None  # CallerDep answered 401 without one
    return credentials.credentials


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    403: {"description": "the caller's role may not do this"},
    404: {"description": "no such alert in the caller's tenant"},
    422: {"description": "bad input, naming the field"},
    503: {"description": "the datasource service could not be asked about the saved query"},
}


@router.get("/schemas/condition", summary="JSON Schema of an alert's condition_config")
async def get_condition_schema() -> dict[str, Any]:
    return condition_json_schema()


@router.post(
    "/alerts",
    status_code=status.HTTP_201_CREATED,
    summary="Create an alert on a saved query",
    responses=ERRORS,
)
async def create_alert(
    body: AlertCreate, caller: CallerDep, credentials: Credentials, engine: EngineDep
) -> Alert:
    return await alerts.create_alert(engine, caller, token_of(credentials), body)


@router.get(
    "/alerts", summary="The tenant's alerts, oldest first, a page at a time", responses=ERRORS
)
async def list_alerts(
    caller: CallerDep,
    pool: PoolDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    query_id: Annotated[
        UUID | None, Query(description="Only the alerts on this saved query")
    ] = None,
) -> AlertPage:
    return await alerts.list_alerts(pool, caller, limit=limit, cursor=cursor, query_id=query_id)


@router.get("/alerts/{alert_id}", summary="One alert", responses=ERRORS)
async def get_alert(alert_id: UUID, caller: CallerDep, pool: PoolDep) -> Alert:
    return await alerts.get_alert(pool, caller, alert_id)


@router.patch("/alerts/{alert_id}", summary="Change an alert (the fields given)", responses=ERRORS)
async def update_alert(
    alert_id: UUID,
    body: AlertUpdate,
    caller: CallerDep,
    credentials: Credentials,
    engine: EngineDep,
) -> Alert:
    return await alerts.update_alert(engine, caller, token_of(credentials), alert_id, body)


@router.delete(
    "/alerts/{alert_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an alert and its history",
    responses=ERRORS,
)
async def delete_alert(alert_id: UUID, caller: CallerDep, pool: PoolDep) -> Response:
    await alerts.delete_alert(pool, caller, alert_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
