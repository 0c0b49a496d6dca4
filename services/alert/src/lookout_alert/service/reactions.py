"""What other services' events change here: the references kept true by events.

- ``saved_query.deleted`` (datasource) → the query's alerts are deactivated (no next run) with
  the reason recorded (``deactivated_reason``), each with ``alert.updated`` (``is_active``);
- ``tenant.deleted`` (identity) → the tenant's alerts, their history and deliveries are deleted,
  each with ``alert.deleted``;
- ``user.deleted`` (identity) → the user's alerts move to the successor (``alert.updated`` with
  ``owner_id``), or are deleted when identity names none.

Each runs in the caller's transaction (the kit's reactions: once per event, retried, dead-lettered)
and writes its events to the outbox; no actor (another service did it). Both are idempotent: a
redelivered event finds nothing left to do."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from lookout_contracts import make_event
from lookout_contracts.events.alert import AlertDeletedV1
from lookout_kit.outbox import publish_many_in_tx

from lookout_alert.repository import alerts
from lookout_alert.service.alerts import updated_event

QUERY_DELETED = "its saved query was deleted"


async def on_saved_query_deleted(conn: asyncpg.Connection, tenant_id: UUID, query_id: UUID) -> None:
    rows = await alerts.deactivate_for_query(conn, tenant_id, query_id, QUERY_DELETED)
    await publish_many_in_tx(conn, [updated_event(None, row, ("is_active",)) for row in rows])


def _deleted(tenant_id: UUID, ids: list[UUID]) -> list[Any]:
    return [
        make_event("alert.deleted", tenant_id=tenant_id, subject_id=alert_id, data=AlertDeletedV1())
        for alert_id in ids
    ]


async def on_tenant_deleted(conn: asyncpg.Connection, tenant_id: UUID) -> None:
    await publish_many_in_tx(conn, _deleted(tenant_id, await alerts.delete_tenant(conn, tenant_id)))


async def on_user_deleted(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, successor_id: UUID | None
) -> None:
    if successor_id is None:
        removed = await alerts.delete_owned(conn, tenant_id, user_id)
        await publish_many_in_tx(conn, _deleted(tenant_id, removed))
        return
    moved = await alerts.move_alerts(conn, tenant_id, user_id, successor_id)
    await publish_many_in_tx(conn, [updated_event(None, row, ("owner_id",)) for row in moved])
