"""A dashboard's grants over HTTP: who has been granted what, grant, revoke."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status
from lookout_kit.dependencies import CallerDep, PoolDep

from lookout_dashboard.endpoints.dashboards import ERRORS
from lookout_dashboard.schemas.dashboards import Grant, GrantCreate
from lookout_dashboard.service import grants

router = APIRouter(tags=["dashboards"])


@router.get(
    "/dashboards/{dashboard_id}/grants",
    summary="Who has been granted what",
    responses={**ERRORS, 403: {}},
)
async def list_grants(dashboard_id: UUID, caller: CallerDep, pool: PoolDep) -> list[Grant]:
    return await grants.list_grants(pool, caller, dashboard_id)


@router.post(
    "/dashboards/{dashboard_id}/grants",
    status_code=status.HTTP_201_CREATED,
    summary="Grant view/edit/share/admin to a user or a role",
    responses={**ERRORS, 403: {}},
)
async def create_grant(
    dashboard_id: UUID, body: GrantCreate, caller: CallerDep, pool: PoolDep
) -> Grant:
    return await grants.grant(pool, caller, dashboard_id, body)


@router.delete(
    "/dashboards/{dashboard_id}/grants/{grant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a grant",
    responses={**ERRORS, 403: {}},
)
async def delete_grant(
    dashboard_id: UUID, grant_id: UUID, caller: CallerDep, pool: PoolDep
) -> Response:
    await grants.revoke(pool, caller, dashboard_id, grant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
