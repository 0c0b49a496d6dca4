"""Query reports over HTTP: per data source and per saved query, latency over time, the slowest
executions and the cost per user."""

from __future__ import annotations

from fastapi import APIRouter
from lookout_kit.dependencies import CallerDep, ClickHouseDep

from lookout_analytics.endpoints.window import ERRORS, LimitDep, WindowDep
from lookout_analytics.schemas import (
    DataSourceStats,
    LatencyPoint,
    Rows,
    SavedQueryStats,
    Series,
    SlowQuery,
    UserCost,
)
from lookout_analytics.service import queries

router = APIRouter(prefix="/reports/queries", tags=["query reports"], responses=ERRORS)


@router.get("/by-data-source", summary="Executions, errors, latency, rows and bytes per source")
async def by_data_source(
    caller: CallerDep, clickhouse: ClickHouseDep, window: WindowDep, limit: LimitDep = 100
) -> Rows[DataSourceStats]:
    return await queries.by_data_source(clickhouse, caller, window, limit)


@router.get(
    "/by-query",
    summary="The same per saved query; ad hoc executions per data source (saved_query_id null)",
)
async def by_query(
    caller: CallerDep, clickhouse: ClickHouseDep, window: WindowDep, limit: LimitDep = 100
) -> Rows[SavedQueryStats]:
    return await queries.by_query(clickhouse, caller, window, limit)


@router.get("/latency", summary="Executions, errors and latency percentiles per bucket")
async def latency(
    caller: CallerDep, clickhouse: ClickHouseDep, window: WindowDep
) -> Series[LatencyPoint]:
    return await queries.latency(clickhouse, caller, window)


@router.get("/slowest", summary="The slowest executions, with their text")
async def slowest(
    caller: CallerDep, clickhouse: ClickHouseDep, window: WindowDep, limit: LimitDep = 20
) -> Rows[SlowQuery]:
    return await queries.slowest(clickhouse, caller, window, limit)


@router.get("/cost-by-user", summary="Executions, time, rows and bytes per user; costliest first")
async def cost_by_user(
    caller: CallerDep, clickhouse: ClickHouseDep, window: WindowDep, limit: LimitDep = 100
) -> Rows[UserCost]:
    return await queries.cost_by_user(clickhouse, caller, window, limit)
