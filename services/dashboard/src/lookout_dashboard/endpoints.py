"""HTTP handlers of the dashboard API: parse, authenticate, call a use case, shape the response."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from lookout_kit.auth.caller import Caller
from lookout_kit.auth.dependencies import current_caller
from lookout_kit.errors import Invalid

from lookout_dashboard import service
from lookout_dashboard.document import document_json_schema
from lookout_dashboard.repository import SearchQuery
from lookout_dashboard.schemas import (
    Dashboard,
    DashboardCreate,
    DashboardImport,
    DashboardPage,
    DashboardUpdate,
    ExportedDashboard,
    Grant,
    GrantCreate,
    RestoreRequest,
    SortKey,
    Tag,
    Version,
    VersionSummary,
)

router = APIRouter(tags=["dashboards"])
CallerDep = Annotated[Caller, Depends(current_caller)]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    404: {"description": "no such dashboard"},
}


async def pool_of(request: Request) -> asyncpg.Pool:  # async: a sync dependency costs a thread hop
    pool: asyncpg.Pool = request.app.state.runtime.pool
    return pool


PoolDep = Annotated[asyncpg.Pool, Depends(pool_of)]


async def events_pool_of(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.runtime.events_pool
    return pool


EventsPoolDep = Annotated[asyncpg.Pool, Depends(events_pool_of)]


def _etag(response: Response, dashboard: Dashboard) -> Dashboard:
    response.headers["ETag"] = f'"{dashboard.version}"'
    return dashboard


def base_version(body_version: int | None, if_match: str | None) -> int:
    """The version an update is based on: the body's ``version`` or the ``If-Match`` ETag."""
    header_version: int | None = None
    if if_match is not None:
        text = if_match.strip().removeprefix("W/").strip('"')
        if not text.isdigit() or len(text) > 10:
            raise Invalid(
                'If-Match must be the dashboard\'s ETag, e.g. "3"', code="invalid_if_match"
            )
        header_version = int(text)
    if body_version is not None and header_version is not None and body_version != header_version:
        raise Invalid("the body's version and If-Match disagree", code="version_mismatch")
    version = body_version if body_version is not None else header_version
    if version is None:
        raise Invalid(
            "say which version this update is based on: body field 'version' or If-Match",
            code="version_required",
        )
    return version


@router.get("/schemas/document", summary="JSON Schema of layout, components and filters")
async def get_document_schema() -> dict[str, object]:
    return document_json_schema()


@router.post(
    "/dashboards", status_code=status.HTTP_201_CREATED, summary="Create a dashboard (a draft)"
)
async def create_dashboard(
    body: DashboardCreate, caller: CallerDep, pool: PoolDep, response: Response
) -> Dashboard:
    return _etag(response, await service.create_dashboard(pool, caller, body))


@router.get("/dashboards", summary="Dashboards the caller may view: search, filter, page")
async def list_dashboards(
    caller: CallerDep,
    pool: PoolDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in name or description")
    ] = None,
    tags: Annotated[list[Tag] | None, Query(max_length=20, description="Any of these tags")] = None,
    tags_all: Annotated[
        list[Tag] | None, Query(max_length=20, description="All of these tags")
    ] = None,
    owner_id: UUID | None = None,
    published: bool | None = None,
    sort: SortKey = "-updated_at",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1_000)] = None,
) -> DashboardPage:
    query = SearchQuery(
        text=q or None,
        tags_any=tags or None,
        tags_all=tags_all or None,
        owner_id=owner_id,
        published=published,
        sort=sort,
        limit=limit,
    )
    return await service.search(pool, caller, query, cursor)


@router.get(
    "/dashboards/{dashboard_id}", summary="Open a dashboard (records a view)", responses=ERRORS
)
async def get_dashboard(
    dashboard_id: UUID, caller: CallerDep, pool: PoolDep, events: EventsPoolDep, response: Response
) -> Dashboard:
    return _etag(response, await service.view_dashboard(pool, events, caller, dashboard_id))


@router.put(
    "/dashboards/{dashboard_id}",
    summary="Replace a dashboard's content as a new version",
    responses={**ERRORS, 403: {}, 409: {"description": "based on a stale version"}},
)
async def update_dashboard(
    dashboard_id: UUID,
    body: DashboardUpdate,
    caller: CallerDep,
    pool: PoolDep,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=64)] = None,
) -> Dashboard:
    version = base_version(body.version, if_match)
    return _etag(
        response, await service.update_dashboard(pool, caller, dashboard_id, body, version)
    )


@router.delete(
    "/dashboards/{dashboard_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a dashboard",
    responses={**ERRORS, 403: {}},
)
async def delete_dashboard(dashboard_id: UUID, caller: CallerDep, pool: PoolDep) -> Response:
    await service.delete_dashboard(pool, caller, dashboard_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/dashboards/{dashboard_id}/publish", summary="Publish", responses={**ERRORS, 403: {}})
async def publish(dashboard_id: UUID, caller: CallerDep, pool: PoolDep) -> Dashboard:
    return await service.set_published(pool, caller, dashboard_id, True)


@router.post(
    "/dashboards/{dashboard_id}/unpublish", summary="Back to draft", responses={**ERRORS, 403: {}}
)
async def unpublish(dashboard_id: UUID, caller: CallerDep, pool: PoolDep) -> Dashboard:
    return await service.set_published(pool, caller, dashboard_id, False)


@router.get("/dashboards/{dashboard_id}/versions", summary="Version history", responses=ERRORS)
async def list_versions(
    dashboard_id: UUID, caller: CallerDep, pool: PoolDep
) -> list[VersionSummary]:
    return await service.list_versions(pool, caller, dashboard_id)


@router.get(
    "/dashboards/{dashboard_id}/versions/{version}", summary="One version", responses=ERRORS
)
async def get_version(
    dashboard_id: UUID,
    version: Annotated[int, Path(ge=1, le=2_147_483_647)],
    caller: CallerDep,
    pool: PoolDep,
) -> Version:
    return await service.get_version(pool, caller, dashboard_id, version)


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
    restored = await service.restore_version(pool, caller, dashboard_id, version, base)
    return _etag(response, restored)


@router.get(
    "/dashboards/{dashboard_id}/grants",
    summary="Who has been granted what",
    responses={**ERRORS, 403: {}},
)
async def list_grants(dashboard_id: UUID, caller: CallerDep, pool: PoolDep) -> list[Grant]:
    return await service.list_grants(pool, caller, dashboard_id)


@router.post(
    "/dashboards/{dashboard_id}/grants",
    status_code=status.HTTP_201_CREATED,
    summary="Grant view/edit/share/admin to a user or a role",
    responses={**ERRORS, 403: {}},
)
async def create_grant(
    dashboard_id: UUID, body: GrantCreate, caller: CallerDep, pool: PoolDep
) -> Grant:
    return await service.grant(pool, caller, dashboard_id, body)


@router.delete(
    "/dashboards/{dashboard_id}/grants/{grant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a grant",
    responses={**ERRORS, 403: {}},
)
async def delete_grant(
    dashboard_id: UUID, grant_id: UUID, caller: CallerDep, pool: PoolDep
) -> Response:
    await service.revoke(pool, caller, dashboard_id, grant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/dashboards/{dashboard_id}/export",
    summary="The dashboard as one JSON document",
    responses=ERRORS,
)
async def export_dashboard(
    dashboard_id: UUID, caller: CallerDep, pool: PoolDep
) -> ExportedDashboard:
    return await service.export_dashboard(pool, caller, dashboard_id)


@router.post(
    "/dashboards/import",
    status_code=status.HTTP_201_CREATED,
    summary="Create a dashboard from an exported document (fresh ids)",
)
async def import_dashboard(
    body: DashboardImport,
    caller: CallerDep,
    pool: PoolDep,
    response: Response,
) -> Dashboard:
    return _etag(response, await service.import_dashboard(pool, caller, body, body.saved_query_ids))
