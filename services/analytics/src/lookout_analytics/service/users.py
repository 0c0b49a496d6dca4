"""The user reports: active users per day, week and month; sessions and their length; activity
by resource type; one user's timeline."""

from __future__ import annotations

import asyncio
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
    """Calendar periods in the window's zone (the window's granularity does not apply). The four
    reads run at once: the report answers in the time of the slowest, not of their sum."""
    scope = report_scope(caller, window)
    daily, weekly, monthly, total = await asyncio.gather(
        users.active_users(clickhouse, scope, "day", window.tz),
        users.active_users(clickhouse, scope, "week", window.tz),
        users.active_users(clickhouse, scope, "month", window.tz),
        users.active_users_in_range(clickhouse, scope),
    )
    return ActiveUsers(
        tz=window.tz,
        users=total,
        daily=fill(window, daily, UsersPoint, "day"),
        weekly=fill(window, weekly, UsersPoint, "week"),
        monthly=fill(window, monthly, UsersPoint, "month"),
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
