"""Reads of ``query_metrics`` for the query reports (through the tenant's scope): per data source,
per saved query and the cost per user from its hourly rollups when the range is whole UTC hours
(the rows of every execution otherwise).

A saved query is its ``saved_query_id`` (a column ingestion adds to the contract's table); ad hoc
executions have the zero UUID there and are grouped per data source."""

from __future__ import annotations

from typing import Any, Literal

from lookout_kit.clickhouse import ClickHouse

from lookout_analytics.repository.buckets import Period, bucket
from lookout_analytics.repository.scope import Scope, read

STATS = (
    "count() AS executions,"
    " countIf(status IN ('failed', 'timeout')) AS errors,"
    " quantilesExact(0.5, 0.95, 0.99)(execution_time_ms) AS latency_ms,"
    " sum(rows_returned) AS total_rows,"
    " sum(bytes_returned) AS total_bytes"
)
HOURLY_STATS = (
    "countMerge(executions_state) AS executions,"
    " countIfMerge(errors_state) AS errors,"
    " quantilesExactMerge(0.5, 0.95, 0.99)(latency_state) AS latency_ms,"
    " sumMerge(rows_state) AS total_rows,"
    " sumMerge(bytes_state) AS total_bytes"
)
"""``STATS`` from the hourly rollup: the same numbers (its latency state holds every time)."""
GROUPS: dict[str, str] = {
    "data_source": "data_source_id",
    "saved_query": "saved_query_id, data_source_id",
}


async def stats(
    clickhouse: ClickHouse, scope: Scope, by: Literal["data_source", "saved_query"], limit: int
) -> list[dict[str, Any]]:
    """Executions, errors, latency percentiles, rows and bytes per data source, or per saved query
    (ad hoc executions: per data source, with the zero ``saved_query_id``)."""
    columns = GROUPS[by]
    order = ", ".join(f"toString({column})" for column in columns.split(", "))
    figures, table = (
        (HOURLY_STATS, "{query_metrics_hourly}")
        if scope.whole_hours
        else (STATS, "{query_metrics}")
    )
    return await read(
        clickhouse,
        scope,
        f"SELECT {columns}, {figures} FROM {table} GROUP BY {columns}"
        f" ORDER BY executions DESC, {order} LIMIT {{limit:UInt32}}",
        {"limit": limit},
    )


async def latency_by_bucket(
    clickhouse: ClickHouse, scope: Scope, period: Period, tz: str
) -> list[dict[str, Any]]:
    """The same figures per bucket, over every data source."""
    return await read(
        clickhouse,
        scope,
        f"SELECT {bucket(period)} AS bucket, {STATS} FROM {{query_metrics}} GROUP BY bucket",
        {"tz": tz},
    )


async def slowest(clickhouse: ClickHouse, scope: Scope, limit: int) -> list[dict[str, Any]]:
    """The slowest executions with their text; the latest first among equals.

    In two reads. First a bound (time, moment) that the ``limit`` slowest are at or above (in
    that order): from the hourly rollup when the range is whole hours (each group's longest time
    at its hour's start: a row of the group is at least that), else the ``limit``-th of the rows'
    own (two columns). Then the rows at or above it, by a ``PREWHERE``: the other columns, the
    text above all, are read only in the few blocks that hold such rows. Rows stored in between
    only raise the true ``limit``-th, so the second read still holds the ``limit`` slowest."""
    if scope.whole_hours:
        bound = (
            "SELECT longest, toUnixTimestamp(hour) AS at FROM (SELECT hour,"
            " maxMerge(longest_state) AS longest FROM {query_metrics_hourly}"
            " GROUP BY hour, data_source_id, saved_query_id)"
        )
    else:
        bound = (
            "SELECT execution_time_ms AS longest, toUnixTimestamp(timestamp) AS at"
            " FROM {query_metrics}"
        )
    found = await read(
        clickhouse,
        scope,
        f"{bound} ORDER BY longest DESC, at DESC LIMIT 1 OFFSET {{before:UInt32}}",
        {"before": limit - 1},
    )
    longest, at = (int(found[0]["longest"]), int(found[0]["at"])) if found else (0, 0)
    return await read(
        clickhouse,
        scope,
        "SELECT query_id, user_id, data_source_id, query_text, execution_time_ms, status,"
        " toUnixTimestamp(timestamp) AS at FROM {query_metrics}"
        " ORDER BY execution_time_ms DESC, at DESC, toString(query_id) LIMIT {limit:UInt32}",
        {"limit": limit, "longest": longest, "at": at},
        prewhere={
            "query_metrics": "execution_time_ms > {longest:UInt32} OR"
            " (execution_time_ms = {longest:UInt32} AND timestamp >= toDateTime({at:UInt32}))"
        },
    )


async def cost_by_user(clickhouse: ClickHouse, scope: Scope, limit: int) -> list[dict[str, Any]]:
    """What each user's executions cost: their count, time, rows and bytes; the costliest first."""
    figures = (
        "sum(executions_sum) AS executions, sum(execution_ms_sum) AS total_execution_ms,"
        " sum(rows_sum) AS total_rows, sum(bytes_sum) AS total_bytes"
        " FROM {query_metrics_users_hourly}"
        if scope.whole_hours
        else "count() AS executions, sum(execution_time_ms) AS total_execution_ms,"
        " sum(rows_returned) AS total_rows, sum(bytes_returned) AS total_bytes"
        " FROM {query_metrics}"
    )
    return await read(
        clickhouse,
        scope,
        f"SELECT user_id, {figures} GROUP BY user_id"
        " ORDER BY total_execution_ms DESC, toString(user_id) LIMIT {limit:UInt32}",
        {"limit": limit},
    )
