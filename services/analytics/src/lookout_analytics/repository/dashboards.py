"""Reads of ``dashboard_events`` for the dashboard reports (through the tenant's scope)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from lookout_kit.clickhouse import ClickHouse

from lookout_analytics.repository.buckets import Period, bucket
from lookout_analytics.repository.scope import Scope, read

VIEWED = "dashboard.viewed"


async def views_by_bucket(
    clickhouse: ClickHouse, scope: Scope, period: Period, tz: str, dashboard_id: UUID | None
) -> list[dict[str, Any]]:
    """Views and distinct viewers per bucket, of one dashboard or all."""
    one = " AND dashboard_id = {dashboard_id:UUID}" if dashboard_id else ""
    parameters: dict[str, Any] = {"tz": tz, "viewed": VIEWED}
    if dashboard_id:
        parameters["dashboard_id"] = dashboard_id
    return await read(
        clickhouse,
        scope,
        f"SELECT {bucket(period)} AS bucket, count() AS views, uniqExact(user_id) AS viewers"
        " FROM {dashboard_events} WHERE event_type = {viewed:String}" + one + " GROUP BY bucket",
        parameters,
    )


async def top(
    clickhouse: ClickHouse, scope: Scope, by: Literal["views", "viewers"], limit: int
) -> list[dict[str, Any]]:
    """The most viewed dashboards, by views or by distinct viewers."""
    order = "views DESC, viewers DESC" if by == "views" else "viewers DESC, views DESC"
    return await read(
        clickhouse,
        scope,
        "SELECT dashboard_id, count() AS views, uniqExact(user_id) AS viewers"
        " FROM {dashboard_events} WHERE event_type = {viewed:String}"
        f" GROUP BY dashboard_id ORDER BY {order}, toString(dashboard_id) LIMIT {{limit:UInt32}}",
        {"viewed": VIEWED, "limit": limit},
    )


async def event_mix(
    clickhouse: ClickHouse, scope: Scope, period: Period, tz: str
) -> list[dict[str, Any]]:
    """Events per bucket and event type."""
    return await read(
        clickhouse,
        scope,
        f"SELECT {bucket(period)} AS bucket, event_type, count() AS events"
        " FROM {dashboard_events} GROUP BY bucket, event_type ORDER BY bucket, event_type",
        {"tz": tz},
        max_rows=100_000,
    )


async def unopened(clickhouse: ClickHouse, scope: Scope, limit: int) -> list[dict[str, Any]]:
    """Dashboards seen before the range's end, not deleted (a deletion after the last restore)
    and never viewed in the range; the longest quiet first."""
    return await read(
        clickhouse,
        scope,
        "SELECT dashboard_id,"
        " toUnixTimestamp(max(timestamp)) AS last_event_at,"
        " toUnixTimestamp(maxIf(timestamp, event_type = {viewed:String})) AS last_viewed_at"
        " FROM {dashboard_events_ever}"
        " GROUP BY dashboard_id"
        " HAVING maxIf(timestamp, event_type = 'dashboard.deleted')"
        " <= maxIf(timestamp, event_type = 'dashboard.restored')"
        " AND dashboard_id NOT IN"
        " (SELECT dashboard_id FROM {dashboard_events} WHERE event_type = {viewed:String})"
        " ORDER BY last_event_at, toString(dashboard_id) LIMIT {limit:UInt32}",
        {"viewed": VIEWED, "limit": limit},
    )
