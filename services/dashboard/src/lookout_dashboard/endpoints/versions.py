"""A dashboard's versions over HTTP: the history, one version, and restoring one."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Response
from lookout_kit.dependencies import CallerDep, PoolDep

from lookout_dashboard.endpoints.dashboards import ERRORS, base_version, with_etag
from lookout_dashboard.schemas.dashboards import Dashboard, RestoreRequest, Version, VersionSummary
from lookout_dashboard.service import versions

router = APIRouter(tags=["dashboards"])


@router.get("/dashboards/{dashboard_id}/versions", summary="Version history", responses=ERRORS)
async def list_versions(
    dashboard_id: UUID, caller: CallerDep, pool: PoolDep
) -> list[VersionSummary]:
    return await versions.list_versions(pool, caller, dashboard_id)


@router.get(
    "/dashboards/{dashboard_id}/versions/{version}", summary="One version", responses=ERRORS
)
async def get_version(
    dashboard_id: UUID,
    version: Annotated[int, Path(ge=1, le=2_147_483_647)],
    caller: CallerDep,
    pool: PoolDep,
) -> Version:
    return await versions.get_version(pool, caller, dashboard_id, version)


@router.post(
    "/dashboards/{dashboard_id}/versions/{version}/restore",
    summary="Restore an old version as a new version",
    responses={**ERRORS, 403: {}, 409: {"description": "based on a stale version"}},
)
async def restore_version(
    dashboard_id: UUID,
    version: Annotated[int, Path(ge=1, le=2_147_483_647)],
    caller: CallerDep,
    pool: PoolDep,
    response: Response,
    body: RestoreRequest | None = None,
    if_match: Annotated[str | None, Header(max_length=64)] = None,
) -> Dashboard:
    base = body.version if body is not None else None
    if base is not None or if_match is not None:
        base = base_version(base, if_match)
    restored = await versions.restore_version(pool, caller, dashboard_id, version, base)
    return with_etag(response, restored)
