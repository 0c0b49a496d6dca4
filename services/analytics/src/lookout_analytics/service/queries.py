"""The query reports: per data source and per saved query (ad hoc executions per data source),
latency over time, the slowest executions, the cost per user."""

from __future__ import annotations

from datetime import datetime

from lookout_kit.auth.caller import Caller
from lookout_kit.clickhouse import ClickHouse

from lookout_analytics.repository import queries
from lookout_analytics.schemas import (
    DataSourceStats,
    LatencyPoint,
    QueryStats,
    ReportWindow,
    Rows,
    SavedQueryStats,
    Series,
    SlowQuery,
    UserCost,
)
from lookout_analytics.service.access import report_scope
from lookout_analytics.service.series import fill


async def by_data_source(
    clickhouse: ClickHouse, caller: Caller, window: ReportWindow, limit: int
) -> Rows[DataSourceStats]:
    rows = await queries.stats(clickhouse, report_scope(caller, window), "data_source", limit)
    return Rows[DataSourceStats](rows=[DataSourceStats.from_row(row) for row in rows])


async def by_query(
    clickhouse: ClickHouse, caller: Caller, window: ReportWindow, limit: int
) -> Rows[SavedQueryStats]:
    rows = await queries.stats(clickhouse, report_scope(caller, window), "saved_query", limit)
    return Rows[SavedQueryStats](rows=[SavedQueryStats.from_row(row) for row in rows])


async def latency(
    clickhouse: ClickHouse, caller: Caller, window: ReportWindow
) -> Series[LatencyPoint]:
    scope = report_scope(caller, window)
    rows = await queries.latency_by_bucket(clickhouse, scope, window.granularity, window.tz)
    flat = [QueryStats.percentiles(row) for row in rows]
    points = fill(window, flat, LatencyPoint)
    return Series[LatencyPoint](granularity=window.granularity, tz=window.tz, points=points)


async def slowest(
    clickhouse: ClickHouse, caller: Caller, window: ReportWindow, limit: int
) -> Rows[SlowQuery]:
    rows = await queries.slowest(clickhouse, report_scope(caller, window), limit)
    zone = window.zone
    return Rows[SlowQuery](
        rows=[
            SlowQuery.model_validate({**row, "at": datetime.fromtimestamp(int(row["at"]), zone)})
            for row in rows
        ]
    )


async def cost_by_user(
    clickhouse: ClickHouse, caller: Caller, window: ReportWindow, limit: int
) -> Rows[UserCost]:
    rows = await queries.cost_by_user(clickhouse, report_scope(caller, window), limit)
    return Rows[UserCost](rows=[UserCost.model_validate(row) for row in rows])
