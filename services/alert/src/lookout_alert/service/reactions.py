"""What other services' events change here: the references kept true by events.

- ``saved_query.deleted`` (datasource) → the query's alerts are deactivated (no next run) with
  the reason recorded (``deactivated_reason``), each with ``alert.updated`` (``is_active``);
- ``tenant.deleted`` (identity) → the tenant's alerts, their history and deliveries are deleted,
  each with ``alert.deleted``.

Each runs in the caller's transaction (the kit's reactions: once per event, retried, dead-lettered)
and writes its events to the outbox; no actor (another service did it). Both are idempotent: a
redelivered event finds nothing left to do."""

from __future__ import annotations

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


async def on_tenant_deleted(conn: asyncpg.Connection, tenant_id: UUID) -> None:
    removed = await alerts.delete_tenant(conn, tenant_id)
    await publish_many_in_tx(
        conn,
        [
            make_event(
                "alert.deleted", tenant_id=tenant_id, subject_id=alert_id, data=AlertDeletedV1()
            )
            for alert_id in removed
        ],
    )
