"""SQL of ``alerts``: rows, pages, changes, evaluation state and the reactions' cleanups. Every query
of a tenant's data has the tenant in its ``WHERE`` (the scheduler's claim, which spans tenants,
is the kit's ``claim_due``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

TABLE = "alerts"
COLUMNS = (
    "id, name, description, query_id, condition_config, notification_config, user_id, tenant_id, "
    "is_active, last_triggered_at, created_at, updated_at, parameter_values, schedule, "
    "cooldown_s, mute_until, next_run_at, state, condition_met, last_value, last_evaluated_at, "
    "last_error, last_notified_at, trigger_notified, deactivated_reason"
)
CONTENT_FIELDS = (
    "name",
    "description",
    "parameter_values",
    "condition_config",
    "notification_config",
    "schedule",
    "cooldown_s",
    "mute_until",
    "is_active",
)


@dataclass(frozen=True)
class AlertRow:
    id: UUID
    name: str
    description: str | None
    query_id: UUID | None
    condition_config: dict[str, Any]
    notification_config: dict[str, Any]
    user_id: UUID
    tenant_id: UUID
    is_active: bool
    last_triggered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    parameter_values: dict[str, Any]
    schedule: dict[str, Any]
    cooldown_s: int
    mute_until: datetime | None
    next_run_at: datetime | None
    state: str
    condition_met: bool
    last_value: float | None
    last_evaluated_at: datetime | None
    last_error: str | None
    last_notified_at: datetime | None
    trigger_notified: bool
    deactivated_reason: str | None

    @classmethod
    def of(cls, record: asyncpg.Record) -> AlertRow:
        return cls(**{key: record[key] for key in cls.__dataclass_fields__})


async def insert_alert(
    conn: asyncpg.Connection,
    *,
    alert_id: UUID,
    tenant_id: UUID,
    user_id: UUID,
    query_id: UUID,
    content: dict[str, Any],
    next_run_at: datetime | None,
) -> AlertRow:
    record = await conn.fetchrow(
        f"""
        INSERT INTO alerts (id, tenant_id, user_id, query_id, name, description, parameter_values,
                            condition_config, notification_config, schedule, cooldown_s,
                            mute_until, is_active, next_run_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
        RETURNING {COLUMNS}
        """,
        alert_id,
        tenant_id,
        user_id,
        query_id,
        *(content[field] for field in CONTENT_FIELDS),
        next_run_at,
    )
    return AlertRow.of(record)


async def get_alert(
    conn: asyncpg.Connection, tenant_id: UUID, alert_id: UUID, *, for_update: bool = False
) -> AlertRow | None:
    lock = " FOR UPDATE" if for_update else ""
    record = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM alerts WHERE tenant_id = $1 AND id = $2{lock}", tenant_id, alert_id
    )
    return None if record is None else AlertRow.of(record)


async def list_alerts(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    *,
    limit: int,
    after: tuple[datetime, UUID] | None,
    query_id: UUID | None,
) -> list[AlertRow]:
    """A page in creation order (oldest first), after the keyset ``after``."""
    records = await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM alerts
        WHERE tenant_id = $1
          AND ($2::uuid IS NULL OR query_id = $2)
          AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid))
        ORDER BY created_at, id
        LIMIT $5
        """,
        tenant_id,
        query_id,
        None if after is None else after[0],
        None if after is None else after[1],
        limit,
    )
    return [AlertRow.of(record) for record in records]


async def update_alert(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    alert_id: UUID,
    changes: dict[str, Any],
    *,
    next_run_at: datetime | None,
    reschedule: bool,
) -> AlertRow:
    """Set ``changes`` (content fields only) and, when ``reschedule``, the next run (a lease in
    progress stays: its completion then sets the run after)."""
    fields = [field for field in CONTENT_FIELDS if field in changes]
    assignments = [f"{field} = ${index}" for index, field in enumerate(fields, start=3)]
    values = [changes[field] for field in fields]
    if reschedule:
        assignments.append(f"next_run_at = ${len(fields) + 3}")
        values.append(next_run_at)
        assignments.append("deactivated_reason = NULL")
    assignments.append("updated_at = now()")
    record = await conn.fetchrow(
        f"UPDATE alerts SET {', '.join(assignments)} WHERE tenant_id = $1 AND id = $2 "
        f"RETURNING {COLUMNS}",
        tenant_id,
        alert_id,
        *values,
    )
    return AlertRow.of(record)


async def delete_alert(conn: asyncpg.Connection, tenant_id: UUID, alert_id: UUID) -> bool:
    status = await conn.execute(
        "DELETE FROM alerts WHERE tenant_id = $1 AND id = $2", tenant_id, alert_id
    )
    return bool(status != "DELETE 0")


async def lease_now(
    conn: asyncpg.Connection, tenant_id: UUID, alert_id: UUID, *, owner: str, lease_s: float
) -> AlertRow | None:
    """Lease one alert whatever its next run (evaluate now), unless a replica holds it; the kit's
    lease contract (``lookout_kit.lease``) so that ``complete`` ends it as the scheduler's."""
    record = await conn.fetchrow(
        f"""
        UPDATE alerts
        SET leased_until = statement_timestamp() + make_interval(secs => $4), leased_by = $3
        WHERE tenant_id = $1 AND id = $2
          AND (leased_until IS NULL OR leased_until <= statement_timestamp())
        RETURNING {COLUMNS}
        """,
        tenant_id,
        alert_id,
        owner,
        lease_s,
    )
    return None if record is None else AlertRow.of(record)


@dataclass(frozen=True)
class Outcome:
    """The evaluation state an evaluation leaves (``record_outcome``)."""

    state: str
    condition_met: bool
    last_value: float | None
    last_error: str | None
    triggered: bool
    trigger_notified: bool | None
    """Whether the trigger found now is notified (True also starts the cooldown); None for
    anything but a trigger: unchanged."""


async def record_outcome(
    conn: asyncpg.Pool | asyncpg.Connection, row: AlertRow, outcome: Outcome, *, owner: str
) -> bool:
    """Store an evaluation's outcome if ``owner`` still holds the alert's lease (False: it lost
    it; another replica may be evaluating, so nothing is written)."""
    status = await conn.execute(
        """
        UPDATE alerts
        SET state = $4, condition_met = $5, last_value = $6, last_error = $7,
            last_evaluated_at = statement_timestamp(), evaluations = evaluations + 1,
            last_triggered_at = CASE WHEN $8 THEN statement_timestamp()
                                     ELSE last_triggered_at END,
            trigger_notified = coalesce($9, trigger_notified),
            last_notified_at = CASE WHEN $9 IS TRUE THEN statement_timestamp()
                                    ELSE last_notified_at END
        WHERE tenant_id = $1 AND id = $2 AND leased_by = $3
          AND leased_until > statement_timestamp()
        """,
        row.tenant_id,
        row.id,
        owner,
        outcome.state,
        outcome.condition_met,
        outcome.last_value,
        outcome.last_error,
        outcome.triggered,
        outcome.trigger_notified,
    )
    return bool(status != "UPDATE 0")


async def deactivate_for_query(
    conn: asyncpg.Connection, tenant_id: UUID, query_id: UUID, reason: str
) -> list[AlertRow]:
    records = await conn.fetch(
        f"""
        UPDATE alerts SET is_active = false, next_run_at = NULL, deactivated_reason = $3,
                          updated_at = now()
        WHERE tenant_id = $1 AND query_id = $2 AND (is_active OR deactivated_reason IS NULL)
        RETURNING {COLUMNS}
        """,
        tenant_id,
        query_id,
        reason,
    )
    return [AlertRow.of(record) for record in records]


async def delete_tenant(conn: asyncpg.Connection, tenant_id: UUID) -> list[UUID]:
    records = await conn.fetch("DELETE FROM alerts WHERE tenant_id = $1 RETURNING id", tenant_id)
    return [record["id"] for record in records]


async def unschedule_inactive(conn: asyncpg.Connection, alert_ids: list[UUID]) -> None:
    """No next run for alerts deactivated while they were being evaluated (the scheduler's, across
    tenants like its claim: the ids are those it leased)."""
    await conn.execute(
        "UPDATE alerts SET next_run_at = NULL "
        "WHERE id = ANY($1::uuid[]) AND NOT is_active AND next_run_at IS NOT NULL",
        alert_ids,
    )


async def move_alerts(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, successor_id: UUID
) -> list[AlertRow]:
    records = await conn.fetch(
        f"""
        UPDATE alerts SET user_id = $3, updated_at = now()
        WHERE tenant_id = $1 AND user_id = $2
        RETURNING {COLUMNS}
        """,
        tenant_id,
        user_id,
        successor_id,
    )
    return [AlertRow.of(record) for record in records]


async def delete_owned(conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID) -> list[UUID]:
    records = await conn.fetch(
        "DELETE FROM alerts WHERE tenant_id = $1 AND user_id = $2 RETURNING id", tenant_id, user_id
    )
    return [record["id"] for record in records]
