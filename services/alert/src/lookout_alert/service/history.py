"""An alert's history, newest first, a page at a time (keyset cursor), each record with the
outcome of its deliveries."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from lookout_kit.auth.caller import Caller

from lookout_alert.repository import alert_history
from lookout_alert.schemas.history import Delivery, HistoryEntry, HistoryPage
from lookout_alert.service import access
from lookout_alert.service.cursors import decode_cursor, encode_cursor


async def history_page(
    pool: asyncpg.Pool, caller: Caller, alert_id: UUID, *, limit: int, cursor: str | None
) -> HistoryPage:
    before = None if cursor is None else decode_cursor(cursor)
    async with pool.acquire() as conn:
        row = await access.load(conn, caller, alert_id, "read")
        records = await alert_history.list_history(
            conn, caller.tenant_id, row.id, limit=limit + 1, before=before
        )
        more = len(records) > limit
        records = records[:limit]
        deliveries = await alert_history.deliveries_of(
            conn, caller.tenant_id, [record.id for record in records]
        )
    by_history: dict[UUID, list[Delivery]] = {}
    for delivery in deliveries:
        by_history.setdefault(delivery.history_id, []).append(
            Delivery(
                channel_index=delivery.channel_index,
                channel=delivery.channel,
                attempts=delivery.attempts,
                delivered=delivery.delivered,
                error_message=delivery.error_message,
            )
        )
    return HistoryPage(
        items=[
            HistoryEntry(
                id=record.id,
                alert_id=record.alert_id,
                kind=record.kind,
                triggered_at=record.triggered_at,
                condition_met=record.condition_met,
                notification_sent=record.notification_sent,
                error_message=record.error_message,
                observed_value=record.observed_value,
                execution_id=record.execution_id,
                deliveries=by_history.get(record.id, []),
            )
            for record in records
        ],
        next_cursor=encode_cursor(records[-1].triggered_at, records[-1].id) if more else None,
    )
