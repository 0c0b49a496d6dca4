"""The user reports: active users per day, week and month; sessions and their length; activity
by resource type; one user's timeline."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from lookout_kit.auth.caller import Caller
from lookout_kit.clickhouse import ClickHouse

from lookout_analytics.repository import users
from lookout_analytics.schemas import (
    ActiveUsers,
    ReportWindow,
    ResourceActivity,
    Rows,
    Series,
    Sessions,
    SessionsPoint,
    TimelineEntry,
    UsersPoint,
)
from lookout_analytics.service.access import report_scope
from lookout_analytics.service.series import fill


async def active(clickhouse: ClickHouse, caller: Caller, window: ReportWindow) -> ActiveUsers:
    """Calendar periods in the window's zone (the window's granularity does not apply)."""
    scope = report_scope(caller, window)
    series = {}
    for period in ("day", "week", "month"):
        rows = await users.active_users(clickhouse, scope, period, window.tz)
        series[period] = fill(window, rows, UsersPoint, period)
    return ActiveUsers(
        tz=window.tz,
        users=await users.active_users_in_range(clickhouse, scope),
        daily=series["day"],
        weekly=series["week"],
        monthly=series["month"],
    )


async def sessions(clickhouse: ClickHouse, caller: Caller, window: ReportWindow) -> Sessions:
    scope = report_scope(caller, window)
    rows = await users.sessions_by_bucket(clickhouse, scope, window.granularity, window.tz)
    points = fill(window, rows, SessionsPoint)
    count = sum(int(row["sessions"]) for row in rows)
    length = sum(int(row["total_length_s"]) for row in rows)
    return Sessions(
        sessions=count,
        average_length_s=length / count if count else 0.0,
        series=Series[SessionsPoint](granularity=window.granularity, tz=window.tz, points=points),
    )


async def by_resource_type(
    clickhouse: ClickHouse, caller: Caller, window: ReportWindow
) -> Rows[ResourceActivity]:
    rows = await users.by_resource_type(clickhouse, report_scope(caller, window))
    return Rows[ResourceActivity](rows=[ResourceActivity.model_validate(row) for row in rows])


async def timeline(
    clickhouse: ClickHouse, caller: Caller, window: ReportWindow, user_id: UUID, limit: int
) -> Rows[TimelineEntry]:
    """``user_id``'s activity in the caller's tenant (none for a user of another tenant)."""
    rows = await users.timeline(clickhouse, report_scope(caller, window), user_id, limit)
    zone = window.zone
    return Rows[TimelineEntry](
        rows=[
            TimelineEntry.model_validate(
                {**row, "at": datetime.fromtimestamp(int(row["at"]), zone)}
            )
            for row in rows
        ]
    )
