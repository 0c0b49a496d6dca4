"""Export and import over HTTP: a dashboard as one JSON document, and a new dashboard from one."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status
from lookout_kit.dependencies import CallerDep, PoolDep

from lookout_dashboard.endpoints.dashboards import ERRORS, with_etag
from lookout_dashboard.schemas.dashboards import Dashboard, DashboardImport, ExportedDashboard
from lookout_dashboard.service import exports

router = APIRouter(tags=["dashboards"])


@router.get(
    "/dashboards/{dashboard_id}/export",
    summary="The dashboard as one JSON document",
    responses=ERRORS,
)
async def export_dashboard(
    dashboard_id: UUID, caller: CallerDep, pool: PoolDep
) -> ExportedDashboard:
    return await exports.export_dashboard(pool, caller, dashboard_id)


@router.post(
    "/dashboards/import",
    status_code=status.HTTP_201_CREATED,
    summary="Create a dashboard from an exported document (fresh ids)",
)
async def import_dashboard(
    body: DashboardImport, caller: CallerDep, pool: PoolDep, response: Response
) -> Dashboard:
    imported = await exports.import_dashboard(pool, caller, body, body.saved_query_ids)
    return with_etag(response, imported)
