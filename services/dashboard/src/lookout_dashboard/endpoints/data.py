"""A dashboard's data over HTTP: every chart's query run in one call (``service/data.py``)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from lookout_kit.auth.dependencies import bearer_scheme
from lookout_kit.dependencies import CallerDep, PoolDep, component

from lookout_dashboard.components import DatasourceClient
from lookout_dashboard.schemas.data import DashboardData
from lookout_dashboard.service import data

router = APIRouter(tags=["data"])

DatasourceDep = Annotated[DatasourceClient, Depends(component(DatasourceClient))]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


@router.get(
    "/dashboards/{dashboard_id}/data",
    summary="Every query component's result with the given filter values, in one call",
    description="Filter values in the query string: `<filter id>=value` (a multi_select "
    "repeated), a date_range as `<filter id>.from` and `<filter id>.to`; a filter not given "
    "takes its default.",
    responses={
        401: {"description": "no valid token"},
        404: {"description": "no such dashboard"},
        422: {"description": "a filter value that does not fit its filter, or no such filter"},
        503: {"description": "the datasource service could not be asked"},
    },
)
async def get_dashboard_data(
    dashboard_id: UUID,
    request: Request,
    caller: CallerDep,
    credentials: Credentials,
    pool: PoolDep,
    datasource: DatasourceDep,
) -> DashboardData:
    # CallerDep verified this same token: it goes along so that the queries run as the caller.
    assert credentials is not None
    query: dict[str, Any] = {}
    for name, value in request.query_params.multi_items():
        query.setdefault(name, []).append(value)
    return await data.dashboard_data(
        pool, datasource.client, caller, credentials.credentials, dashboard_id, query
    )
