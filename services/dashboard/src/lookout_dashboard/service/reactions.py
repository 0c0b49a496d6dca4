"""What identity's events change here: the references into identity's data kept true by events.

- ``tenant.deleted`` → the tenant's dashboards (with their grants and versions) are deleted;
- ``user.deleted`` → the user's grants are removed and their dashboards move to ``successor_id``;
- ``role.deleted`` → grants to the role are removed.

Each runs in the caller's transaction and writes its own events (``dashboard.deleted``,
``dashboard.unshared``, ``dashboard.updated``) to the outbox. All are idempotent: a redelivered event
finds nothing left to do.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg
from lookout_contracts import make_event
from lookout_contracts.events.dashboard import DashboardDeletedV1, DashboardUpdatedV1
from lookout_kit.outbox import publish_many_in_tx

from lookout_dashboard.repository import dashboards, grants
from lookout_dashboard.schemas.dashboards import Grant
from lookout_dashboard.service.grants import unshared_event


async def on_tenant_deleted(conn: asyncpg.Connection, tenant_id: UUID) -> int:
    deleted = await dashboards.delete_tenant(conn, tenant_id)
    await publish_many_in_tx(
        conn,
        [
            make_event(
                "dashboard.deleted",
                tenant_id=tenant_id,
                subject_id=dashboard_id,
                data=DashboardDeletedV1(),
            )
            for dashboard_id in deleted
        ],
    )
    return len(deleted)


async def on_user_deleted(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, successor_id: UUID | None
) -> None:
    removed = await grants.delete_grantee_grants(conn, tenant_id, user_id=user_id)
    events = [unshared_event(None, tenant_id, Grant.from_row(record)) for record in removed]
    if successor_id is not None:
        moved = await dashboards.move_dashboards(conn, tenant_id, user_id, successor_id)
        events += [
            make_event(
                "dashboard.updated",
                tenant_id=tenant_id,
                subject_id=row.id,
                data=DashboardUpdatedV1(
                    name=row.name,
                    owner_id=row.owner_id,
                    is_public=row.is_public,
                    tags=tuple(row.tags),
                    version=row.version,
                    changed_fields=("owner_id",),
                ),
            )
            for row in moved
        ]
    await publish_many_in_tx(conn, events)


async def on_role_deleted(conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID) -> None:
    removed = await grants.delete_grantee_grants(conn, tenant_id, role_id=role_id)
    await publish_many_in_tx(
        conn, [unshared_event(None, tenant_id, Grant.from_row(record)) for record in removed]
    )
