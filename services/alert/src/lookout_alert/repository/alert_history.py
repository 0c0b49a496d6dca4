"""SQL of ``alert_history`` and ``alert_deliveries``: an evaluation's record, its deliveries, pages
of an alert's history. The tenant is in every ``WHERE``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

HISTORY_COLUMNS = (
    "id, alert_id, kind, triggered_at, condition_met, notification_sent, error_message, "
    "observed_value, execution_id"
)


@dataclass(frozen=True)
class HistoryRow:
    id: UUID
    alert_id: UUID
    kind: str
    triggered_at: datetime
    condition_met: bool
    notification_sent: bool
    error_message: str | None
    observed_value: float | None
    execution_id: UUID | None

    @classmethod
    def of(cls, record: asyncpg.Record) -> HistoryRow:
        return cls(**{key: record[key] for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class DeliveryRow:
    history_id: UUID
    channel_index: int
    channel: str
    attempts: int
    delivered: bool
    error_message: str | None


async def insert_history(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    alert_id: UUID,
    kind: str,
    condition_met: bool,
    error_message: str | None,
    observed_value: float | None,
    execution_id: UUID | None,
) -> HistoryRow:
    record = await conn.fetchrow(
        f"""
        INSERT INTO alert_history (tenant_id, alert_id, kind, condition_met, error_message,
                                   observed_value, execution_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        RETURNING {HISTORY_COLUMNS}
        """,
        tenant_id,
        alert_id,
        kind,
        condition_met,
        error_message,
        observed_value,
        execution_id,
    )
    return HistoryRow.of(record)


async def record_deliveries(
    conn: asyncpg.Connection, tenant_id: UUID, history_id: UUID, deliveries: list[DeliveryRow]
) -> None:
    """The deliveries of one history record, and whether any was delivered."""
    await conn.executemany(
        """
        INSERT INTO alert_deliveries (history_id, tenant_id, channel_index, channel, attempts,
                                      delivered, error_message)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        [
            (
                history_id,
                tenant_id,
                d.channel_index,
                d.channel,
                d.attempts,
                d.delivered,
                d.error_message,
            )
            for d in deliveries
        ],
    )
    await conn.execute(
        "UPDATE alert_history SET notification_sent = $3 WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        history_id,
        any(d.delivered for d in deliveries),
    )


async def list_history(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    alert_id: UUID,
    *,
    limit: int,
    before: tuple[datetime, UUID] | None,
) -> list[HistoryRow]:
    """Newest first, before the keyset ``before``."""
    records = await conn.fetch(
        f"""
        SELECT {HISTORY_COLUMNS} FROM alert_history
        WHERE tenant_id = $1 AND alert_id = $2
          AND ($3::timestamptz IS NULL OR (triggered_at, id) < ($3, $4::uuid))
        ORDER BY triggered_at DESC, id DESC
        LIMIT $5
        """,
        tenant_id,
        alert_id,
        None if before is None else before[0],
        None if before is None else before[1],
        limit,
    )
    return [HistoryRow.of(record) for record in records]


async def deliveries_of(
    conn: asyncpg.Connection, tenant_id: UUID, history_ids: list[UUID]
) -> list[DeliveryRow]:
    records = await conn.fetch(
        """
        SELECT history_id, channel_index, channel, attempts, delivered, error_message
        FROM alert_deliveries WHERE tenant_id = $1 AND history_id = ANY($2)
        ORDER BY channel_index
        """,
        tenant_id,
        history_ids,
    )
    return [DeliveryRow(**dict(record)) for record in records]
