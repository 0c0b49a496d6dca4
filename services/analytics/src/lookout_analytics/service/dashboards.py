"""The dashboard reports: views over time, top dashboards, the event mix, dashboards nobody
opened."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from lookout_kit.auth.caller import Caller
from lookout_kit.clickhouse import ClickHouse

from lookout_analytics.repository import dashboards
from lookout_analytics.schemas import (
    DashboardViews,
    EventMixPoint,
    ReportWindow,
    Rows,
    Series,
    UnopenedDashboard,
    ViewsPoint,
)
from lookout_analytics.service.access import report_scope
from lookout_analytics.service.series import fill


async def views(
    clickhouse: ClickHouse, caller: Caller, window: ReportWindow, dashboard_id: UUID | None
) -> Series[ViewsPoint]:
    scope = report_scope(caller, window)
    rows = await dashboards.views_by_bucket(
        clickhouse, scope, window.granularity, window.tz, dashboard_id
    )
    points = fill(window, rows, ViewsPoint)
    return Series[ViewsPoint](granularity=window.granularity, tz=window.tz, points=points)


async def top(
    clickhouse: ClickHouse,
    caller: Caller,
    window: ReportWindow,
    by: Literal["views", "viewers"],
    limit: int,
) -> Rows[DashboardViews]:
    scope = report_scope(caller, window)
    rows = await dashboards.top(clickhouse, scope, by, limit)
    return Rows[DashboardViews](rows=[DashboardViews.model_validate(row) for row in rows])


async def event_mix(
    clickhouse: ClickHouse, caller: Caller, window: ReportWindow
) -> Series[EventMixPoint]:
    """Per bucket, ``events``: a count per event type (types without events left out)."""
    scope = report_scope(caller, window)
    rows = await dashboards.event_mix(clickhouse, scope, window.granularity, window.tz)
    by_bucket: dict[int, dict[str, int]] = {}
    for row in rows:
        by_bucket.setdefault(int(row["bucket"]), {})[row["event_type"]] = int(row["events"])
    merged = [{"bucket": start, "events": counts} for start, counts in by_bucket.items()]
    points = fill(window, merged, EventMixPoint)
    return Series[EventMixPoint](granularity=window.granularity, tz=window.tz, points=points)


async def unopened(
    clickhouse: ClickHouse, caller: Caller, window: ReportWindow, limit: int
) -> Rows[UnopenedDashboard]:
    scope = report_scope(caller, window)
    rows = await dashboards.unopened(clickhouse, scope, limit)
    zone = window.zone
    return Rows[UnopenedDashboard](
        rows=[
            UnopenedDashboard(
                dashboard_id=row["dashboard_id"],
                last_event_at=datetime.fromtimestamp(int(row["last_event_at"]), zone),
                last_viewed_at=(
                    datetime.fromtimestamp(int(row["last_viewed_at"]), zone)
                    if int(row["last_viewed_at"])
                    else None
                ),
            )
            for row in rows
        ]
    )
