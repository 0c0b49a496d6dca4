"""A dashboard's version history: list, read one, and restore an old version as a new one."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from lookout_contracts.events.dashboard import DashboardRestoredV1
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Forbidden, NotFound
from lookout_kit.outbox import publish_in_tx

from lookout_dashboard.repository import dashboards, versions
from lookout_dashboard.repository.dashboards import Content
from lookout_dashboard.schemas.dashboards import Dashboard, Version, VersionSummary
from lookout_dashboard.service import access
from lookout_dashboard.service.dashboards import event_of, version_conflict


async def list_versions(
    pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID
) -> list[VersionSummary]:
    async with pool.acquire() as conn:
        await access.load(conn, caller, dashboard_id, "view")
        records = await versions.list_versions(conn, caller.tenant_id, dashboard_id)
    return [VersionSummary(**dict(record)) for record in records]


async def get_version(
    pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID, version: int
) -> Version:
    async with pool.acquire() as conn:
        await access.load(conn, caller, dashboard_id, "view")
        record = await versions.get_version(conn, caller.tenant_id, dashboard_id, version)
    if record is None:
        raise NotFound(f"the dashboard has no version {version}")
    return Version.from_row(record)


async def restore_version(
    pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID, version: int, base_version: int | None
) -> Dashboard:
    """Make an old version's content the dashboard's new version."""
    async with pool.acquire() as conn, conn.transaction():
        before, level = await access.load(conn, caller, dashboard_id, "edit", for_update=True)
        old = await versions.get_version(conn, caller.tenant_id, dashboard_id, version)
        if old is None:
            raise NotFound(f"the dashboard has no version {version}")
        expected = before.version if base_version is None else base_version
        restored = Content.of(old)
        if restored.is_public != before.is_public and not access.at_least(level, "share"):
            raise Forbidden("this restore changes is_public, which needs share rights")
        after = await dashboards.update_content(
            conn, caller.tenant_id, dashboard_id, expected_version=expected, content=restored
        )
        if after is None:
            raise version_conflict(before.version, expected)
        await versions.insert_version(conn, after, created_by=caller.user_id)
        await publish_in_tx(
            conn,
            event_of(
                "dashboard.restored",
                caller,
                after,
                DashboardRestoredV1(version=after.version, restored_from_version=version),
            ),
        )
    return Dashboard.from_row(after, level)
