"""Sharing a dashboard: per-dashboard grants of view/edit/share/admin to a user or a role."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from lookout_contracts import make_event
from lookout_contracts.events.dashboard import DashboardSharedV1, DashboardUnsharedV1
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Forbidden, NotFound
from lookout_kit.outbox import publish_in_tx

from lookout_dashboard.repository import grants
from lookout_dashboard.schemas.dashboards import Grant, GrantCreate
from lookout_dashboard.service import access
from lookout_dashboard.service.dashboards import event_of


async def list_grants(pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID) -> list[Grant]:
    async with pool.acquire() as conn:
        await access.load(conn, caller, dashboard_id, "share")
        return [Grant.from_row(record) for record in await grants.list_grants(conn, dashboard_id)]


async def grant(pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID, body: GrantCreate) -> Grant:
    async with pool.acquire() as conn, conn.transaction():
        row, level = await access.load(conn, caller, dashboard_id, "share", for_update=True)
        if not access.at_least(level, body.permission):
            raise Forbidden(f"you cannot grant {body.permission}: you have {level}")
        record = await grants.upsert_grant(
            conn,
            dashboard_id,
            user_id=body.user_id,
            role_id=body.role_id,
            permission=body.permission,
            granted_by=caller.user_id,
        )
        result = Grant.from_row(record)
        await publish_in_tx(
            conn,
            event_of(
                "dashboard.shared",
                caller,
                row,
                DashboardSharedV1(
                    grant_id=result.id,
                    grantee_type="user" if result.user_id else "role",
                    grantee_id=result.user_id or result.role_id,
                    permission=result.permission,
                ),
            ),
        )
    return result


async def revoke(pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID, grant_id: UUID) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row, level = await access.load(conn, caller, dashboard_id, "share", for_update=True)
        record = await grants.delete_grant(conn, dashboard_id, grant_id)
        if record is None:
            raise NotFound("no such grant on this dashboard")
        removed = Grant.from_row(record)
        if not access.at_least(level, removed.permission):
            raise Forbidden(f"you cannot revoke a {removed.permission} grant: you have {level}")
        await publish_in_tx(conn, unshared_event(caller, row.tenant_id, removed))


def unshared_event(caller: Caller | None, tenant_id: UUID, removed: Grant) -> Any:
    """``dashboard.unshared`` for a removed grant (no caller: a reaction to identity's events)."""
    return make_event(
        "dashboard.unshared",
        tenant_id=tenant_id,
        subject_id=removed.dashboard_id,
        data=DashboardUnsharedV1(
            grant_id=removed.id,
            grantee_type="user" if removed.user_id else "role",
            grantee_id=removed.user_id or removed.role_id,
            permission=removed.permission,
        ),
        actor_id=caller.user_id if caller else None,
        session_id=caller.session_id if caller else None,
    )
