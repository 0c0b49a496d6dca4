"""User reports over HTTP: active users, sessions, activity by resource type, a user's timeline."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from lookout_kit.dependencies import CallerDep, ClickHouseDep

from lookout_analytics.endpoints.window import ERRORS, WindowDep
from lookout_analytics.schemas import ActiveUsers, ResourceActivity, Rows, Sessions, TimelineEntry
from lookout_analytics.service import users

router = APIRouter(prefix="/reports/users", tags=["user reports"], responses=ERRORS)


@router.get("/active", summary="Distinct active users per day, week and month (in tz)")
async def active(caller: CallerDep, clickhouse: ClickHouseDep, window: WindowDep) -> ActiveUsers:
    return await users.active(clickhouse, caller, window)


@router.get("/sessions", summary="Sessions and their length, per bucket of their start")
async def sessions(caller: CallerDep, clickhouse: ClickHouseDep, window: WindowDep) -> Sessions:
    return await users.sessions(clickhouse, caller, window)


@router.get("/by-resource-type", summary="Activity per resource type: events and users")
async def by_resource_type(
    caller: CallerDep, clickhouse: ClickHouseDep, window: WindowDep
) -> Rows[ResourceActivity]:
    return await users.by_resource_type(clickhouse, caller, window)


@router.get("/{user_id}/timeline", summary="One user's activity in the range, oldest first")
async def timeline(
    user_id: UUID,
    caller: CallerDep,
    clickhouse: ClickHouseDep,
    window: WindowDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
) -> Rows[TimelineEntry]:
    return await users.timeline(clickhouse, caller, window, user_id, limit)
