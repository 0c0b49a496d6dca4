"""Saved queries over HTTP: create, list, open, update (partial), delete."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from lookout_kit.dependencies import CallerDep, PoolDep

from lookout_datasource.endpoints.data_sources import IfMatchDep
from lookout_datasource.schemas.saved_queries import (
    SavedQuery,
    SavedQueryCreate,
    SavedQueryPage,
    SavedQueryUpdate,
)
from lookout_datasource.service import saved_queries

router = APIRouter(tags=["saved queries"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    404: {"description": "no such saved query"},
}


@router.post(
    "/saved-queries",
    status_code=status.HTTP_201_CREATED,
    summary="Create a saved query",
    responses={401: ERRORS[401], 403: {}},
)
async def create_saved_query(
    body: SavedQueryCreate, caller: CallerDep, pool: PoolDep
) -> SavedQuery:
    return await saved_queries.create_saved_query(pool, caller, body)


@router.get("/saved-queries", summary="The saved queries the caller may see, by name, paged")
async def list_saved_queries(
    caller: CallerDep,
    pool: PoolDep,
    data_source_id: UUID | None = None,
    q: Annotated[
        str | None, Query(max_length=200, pattern=r"^[^\x00]*$", description="Text in the name")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1_000)] = None,
) -> SavedQueryPage:
    return await saved_queries.list_saved_queries(
        pool, caller, limit=limit, cursor=cursor, data_source_id=data_source_id, text=q or None
    )


@router.get("/saved-queries/{saved_query_id}", summary="A saved query", responses=ERRORS)
async def get_saved_query(saved_query_id: UUID, caller: CallerDep, pool: PoolDep) -> SavedQuery:
    return await saved_queries.get_saved_query(pool, caller, saved_query_id)


@router.patch(
    "/saved-queries/{saved_query_id}",
    summary="Change a saved query (the fields given; parameters as a whole)",
    responses={**ERRORS, 403: {}, 409: {"description": "a stale If-Match"}},
)
async def update_saved_query(
    saved_query_id: UUID,
    body: SavedQueryUpdate,
    caller: CallerDep,
    pool: PoolDep,
    version: IfMatchDep,
) -> SavedQuery:
    return await saved_queries.update_saved_query(pool, caller, saved_query_id, body, version)


@router.delete(
    "/saved-queries/{saved_query_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a saved query",
    responses={**ERRORS, 403: {}},
)
async def delete_saved_query(saved_query_id: UUID, caller: CallerDep, pool: PoolDep) -> Response:
    await saved_queries.delete_saved_query(pool, caller, saved_query_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
