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

    In two reads: the ``limit``-th longest time (one column), then the rows at least that long
    (a ``PREWHERE``: the other columns, the text above all, are read only where it holds). Rows stored in between can only raise the
    threshold's true value, so the second read still holds the ``limit`` slowest."""
    found = await read(
        clickhouse,
        scope,
        "SELECT min(execution_time_ms) AS threshold FROM (SELECT execution_time_ms"
        " FROM {query_metrics} ORDER BY execution_time_ms DESC LIMIT {limit:UInt32})",
        {"limit": limit},
    )
    return await read(
        clickhouse,
        scope,
        "SELECT query_id, user_id, data_source_id, query_text, execution_time_ms, status,"
        " toUnixTimestamp(timestamp) AS at FROM {query_metrics}"
        " ORDER BY execution_time_ms DESC, at DESC, toString(query_id) LIMIT {limit:UInt32}",
        {"limit": limit, "threshold": int(found[0]["threshold"])},
        prewhere={"query_metrics": "execution_time_ms >= {threshold:UInt32}"},
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
