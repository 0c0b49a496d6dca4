"""Dashboard reports over HTTP: views over time, top dashboards, event mix, unopened dashboards."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from lookout_kit.dependencies import CallerDep, ClickHouseDep

from lookout_analytics.endpoints.window import ERRORS, LimitDep, WindowDep
from lookout_analytics.schemas import (
    DashboardViews,
    EventMixPoint,
    Rows,
    Series,
    UnopenedDashboard,
    ViewsPoint,
)
from lookout_analytics.service import dashboards

router = APIRouter(prefix="/reports/dashboards", tags=["dashboard reports"], responses=ERRORS)


@router.get("/views", summary="Views and distinct viewers per bucket, of one dashboard or all")
async def views(
    caller: CallerDep,
    clickhouse: ClickHouseDep,
    window: WindowDep,
    dashboard_id: Annotated[UUID | None, Query(description="Only this dashboard")] = None,
) -> Series[ViewsPoint]:
    return await dashboards.views(clickhouse, caller, window, dashboard_id)


@router.get("/top", summary="The most viewed dashboards, by views or by distinct viewers")
async def top(
    caller: CallerDep,
    clickhouse: ClickHouseDep,
    window: WindowDep,
    by: Literal["views", "viewers"] = "views",
    limit: LimitDep = 10,
) -> Rows[DashboardViews]:
    return await dashboards.top(clickhouse, caller, window, by, limit)


@router.get("/event-mix", summary="Dashboard events per bucket and event type")
async def event_mix(
    caller: CallerDep, clickhouse: ClickHouseDep, window: WindowDep
) -> Series[EventMixPoint]:
    return await dashboards.event_mix(clickhouse, caller, window)


@router.get(
    "/unopened",
    summary="Dashboards nobody opened in the range",
    description="The tenant's dashboards are those seen in dashboard_events before the range's "
    "end and not deleted since; those with no dashboard.viewed in the range, the longest quiet "
    "first.",
)
async def unopened(
    caller: CallerDep, clickhouse: ClickHouseDep, window: WindowDep, limit: LimitDep = 100
) -> Rows[UnopenedDashboard]:
    return await dashboards.unopened(clickhouse, caller, window, limit)
