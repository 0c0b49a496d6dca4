"""Dashboards over HTTP: create, search, open, update (If-Match), publish, delete; the document's
JSON Schema."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response, status
from lookout_kit.dependencies import CallerDep, EventsPoolDep, PoolDep
from lookout_kit.errors import Invalid

from lookout_dashboard.repository.dashboards import SearchQuery
from lookout_dashboard.schemas.dashboards import (
    Dashboard,
    DashboardCreate,
    DashboardPage,
    DashboardUpdate,
    SortKey,
    Tag,
)
from lookout_dashboard.schemas.document import document_json_schema
from lookout_dashboard.service import dashboards

router = APIRouter(tags=["dashboards"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    404: {"description": "no such dashboard"},
}


def with_etag(response: Response, dashboard: Dashboard) -> Dashboard:
    """The dashboard, with its version as the response's ETag (what ``If-Match`` sends back)."""
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
    return with_etag(response, await dashboards.create_dashboard(pool, caller, body))


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
    return await dashboards.search(pool, caller, query, cursor)


@router.get(
    "/dashboards/{dashboard_id}", summary="Open a dashboard (records a view)", responses=ERRORS
)
async def get_dashboard(
    dashboard_id: UUID, caller: CallerDep, pool: PoolDep, events: EventsPoolDep, response: Response
) -> Dashboard:
    return with_etag(response, await dashboards.view_dashboard(pool, events, caller, dashboard_id))


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
    return with_etag(
        response, await dashboards.update_dashboard(pool, caller, dashboard_id, body, version)
    )


@router.delete(
    "/dashboards/{dashboard_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a dashboard",
    responses={**ERRORS, 403: {}},
)
async def delete_dashboard(dashboard_id: UUID, caller: CallerDep, pool: PoolDep) -> Response:
    await dashboards.delete_dashboard(pool, caller, dashboard_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/dashboards/{dashboard_id}/publish", summary="Publish", responses={**ERRORS, 403: {}})
async def publish(dashboard_id: UUID, caller: CallerDep, pool: PoolDep) -> Dashboard:
    return await dashboards.set_published(pool, caller, dashboard_id, True)


@router.post(
    "/dashboards/{dashboard_id}/unpublish", summary="Back to draft", responses={**ERRORS, 403: {}}
)
async def unpublish(dashboard_id: UUID, caller: CallerDep, pool: PoolDep) -> Dashboard:
    return await dashboards.set_published(pool, caller, dashboard_id, False)
