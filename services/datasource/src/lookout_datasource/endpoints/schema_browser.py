"""Test connection and the schema browser over HTTP: test a source, refresh its schema, page
through its tables, read a table's columns. A table is named by query parameters (``schema``,
``table``), not a path segment: names may hold dots and slashes."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from lookout_kit.dependencies import CallerDep, PoolDep

from lookout_datasource.schemas.schema_browser import (
    ConnectionTest,
    SchemaSummary,
    TableColumns,
    TablePage,
)
from lookout_datasource.service import connection_tests, schema_browser, schema_refresher
from lookout_datasource.service.engine import EngineDep
from lookout_datasource.service.schema_browser import Refresher

router = APIRouter(tags=["schema browser"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    403: {"description": "no update or execute rights on the data source"},
    404: {"description": "no such data source"},
}
Name = Annotated[str, Query(min_length=1, max_length=255, pattern=r"^[^\x00]+$")]


async def refresher_dep(engine: EngineDep, pool: PoolDep) -> Refresher:
    return schema_refresher.refresher_of(engine.settings, pool, engine)


RefresherDep = Annotated[Refresher, Depends(refresher_dep)]


@router.post(
    "/data-sources/{data_source_id}/test",
    summary="Test the connection: the server's version and latency, or why it cannot be used",
    description=(
        "A source that cannot be used is an answer, not a failed request: 200 with "
        "succeeded=false and error.code (bad_credentials, unreachable, timeout, "
        "unknown_database, egress_refused). Sets the source's status and last_tested_at."
    ),
    responses=ERRORS,
)
async def test_data_source(
    data_source_id: UUID, caller: CallerDep, pool: PoolDep, engine: EngineDep
) -> ConnectionTest:
    return await connection_tests.run_connection_test(
        pool, engine.pools, engine.box, caller, data_source_id
    )


@router.post(
    "/data-sources/{data_source_id}/schema/refresh",
    summary="Read the source's tables and columns again, now",
    description=(
        "A source that cannot be read is an answer (succeeded=false with the error); what the "
        "browser held stays. 409 schema_refresh_in_progress while another refresh runs."
    ),
    responses={**ERRORS, 409: {"description": "a refresh of this source is in progress"}},
)
async def refresh_schema(
    data_source_id: UUID, caller: CallerDep, refresher: RefresherDep
) -> SchemaSummary:
    return await schema_browser.refresh_now(refresher, caller, data_source_id)


@router.get(
    "/data-sources/{data_source_id}/tables",
    summary="The source's tables with their column counts, by schema and name, paged",
    responses={401: ERRORS[401], 404: ERRORS[404]},
)
async def list_tables(
    data_source_id: UUID,
    caller: CallerDep,
    pool: PoolDep,
    search: Annotated[
        str | None,
        Query(
            max_length=255,
            pattern=r"^[^\x00]*$",
            description="Text in the table's name (in schema.table when it holds a dot)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=2_000)] = None,
) -> TablePage:
    return await schema_browser.list_tables(
        pool, caller, data_source_id, search=search, limit=limit, cursor=cursor
    )


@router.get(
    "/data-sources/{data_source_id}/columns",
    summary="A table's columns, in the table's order",
    responses={401: ERRORS[401], 404: {"description": "no such data source or table"}},
)
async def table_columns(
    data_source_id: UUID,
    caller: CallerDep,
    pool: PoolDep,
    schema: Name,
    table: Name,
) -> TableColumns:
    return await schema_browser.table_columns(pool, caller, data_source_id, schema, table)
