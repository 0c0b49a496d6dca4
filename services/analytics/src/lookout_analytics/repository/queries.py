"""Reads of ``query_metrics`` for the query reports (through the tenant's scope).

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
    return await read(
        clickhouse,
        scope,
        f"SELECT {columns}, {STATS} FROM {{query_metrics}} GROUP BY {columns}"
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
    """The slowest executions with their text; the latest first among equals."""
    return await read(
        clickhouse,
        scope,
        "SELECT query_id, user_id, data_source_id, query_text, execution_time_ms, status,"
        " toUnixTimestamp(timestamp) AS at FROM {query_metrics}"
        " ORDER BY execution_time_ms DESC, at DESC, toString(query_id) LIMIT {limit:UInt32}",
        {"limit": limit},
    )


async def cost_by_user(clickhouse: ClickHouse, scope: Scope, limit: int) -> list[dict[str, Any]]:
    """What each user's executions cost: their count, time, rows and bytes; the costliest first."""
    return await read(
        clickhouse,
        scope,
        "SELECT user_id, count() AS executions, sum(execution_time_ms) AS total_execution_ms,"
        " sum(rows_returned) AS total_rows, sum(bytes_returned) AS total_bytes"
        " FROM {query_metrics} GROUP BY user_id"
        " ORDER BY total_execution_ms DESC, toString(user_id) LIMIT {limit:UInt32}",
        {"limit": limit},
    )
