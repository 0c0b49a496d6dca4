"""Alerts: create, list, open, update, delete in the caller's tenant, each change with its event
(``alert.created/updated/deleted``) in the same transaction. Events carry the channels' kinds,
never a target or a secret.

An alert is made only on a saved query its creator may view, with values that suit it (asked of
the datasource service as the creator). A new or re-activated alert is due at once (its first evaluation sets the baseline); an inactive
one has no next run. A changed schedule takes effect from now."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from lookout_contracts import make_event
from lookout_contracts.events.alert import AlertCreatedV1, AlertDeletedV1, AlertUpdatedV1
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Forbidden, Invalid
from lookout_kit.outbox import publish_in_tx

from lookout_alert.repository import alerts
from lookout_alert.repository.alerts import AlertRow
from lookout_alert.schemas.alerts import Alert, AlertCreate, AlertPage, AlertUpdate
from lookout_alert.service import access
from lookout_alert.service.channel_secrets import seal_channels
from lookout_alert.service.channels.targets import check_targets
from lookout_alert.service.cursors import decode_cursor, encode_cursor
from lookout_alert.service.engine import Engine
from lookout_alert.service.query_runner import check_saved_query
from lookout_alert.service.schedules import check_schedule

# API field → the contract's name of it in alert.updated's changed_fields.
EVENT_FIELD = {
    "name": "name",
    "description": "description",
    "parameter_values": "saved_query_id",
    "condition_config": "condition",
    "notification_config": "notification",
    "schedule": "schedule",
    "cooldown_s": "schedule",
    "mute_until": "notification",
    "is_active": "is_active",
}


def channels_of(row: AlertRow) -> tuple[Any, ...]:
    return tuple(channel["kind"] for channel in row.notification_config.get("channels", []))


def _event(type_: str, caller: Caller | None, row: AlertRow, data: Any) -> Any:
    return make_event(
        type_,
        tenant_id=row.tenant_id,
        subject_id=row.id,
        data=data,
        actor_id=None if caller is None else caller.user_id,
        session_id=None if caller is None else caller.session_id,
    )


def updated_event(caller: Caller | None, row: AlertRow, changed: tuple[str, ...]) -> Any:
    data = AlertUpdatedV1(
        name=row.name,
        saved_query_id=row.query_id,
        owner_id=row.user_id,
        is_active=row.is_active,
        channels=channels_of(row),
        changed_fields=changed,
    )
    return _event("alert.updated", caller, row, data)


def _stored(value: Any) -> Any:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


async def create_alert(
    engine: Engine, caller: Caller, access_token: str, body: AlertCreate
) -> Alert:
    """``access_token``: the caller's, to ask the datasource service whether it may view the
    saved query (``query_runner.check_saved_query``)."""
    if not access.may_create(caller):
        raise Forbidden("your role may not create alerts")
    check_schedule(body.schedule, engine.settings.min_interval_s)
    box, pool = engine.box, engine.pool
    alert_id = uuid.uuid4()
    channels = seal_channels(box, alert_id, body.notification_config, None)
    await check_targets(engine.egress, body.notification_config)
    await check_saved_query(
        engine.datasource, caller.tenant_id, body.query_id, body.parameter_values, access_token
    )
    content = {
        "name": body.name,
        "description": body.description,
        "parameter_values": body.parameter_values,
        "condition_config": _stored(body.condition_config),
        "notification_config": channels,
        "schedule": _stored(body.schedule),
        "cooldown_s": body.cooldown_s,
        "mute_until": body.mute_until,
        "is_active": body.is_active,
    }
    async with pool.acquire() as conn, conn.transaction():
        row = await alerts.insert_alert(
            conn,
            alert_id=alert_id,
            tenant_id=caller.tenant_id,
            user_id=caller.user_id,
            query_id=body.query_id,
            content=content,
            next_run_at=datetime.now(UTC) if body.is_active else None,
        )
        data = AlertCreatedV1(
            name=row.name,
            saved_query_id=row.query_id,
            owner_id=row.user_id,
            is_active=row.is_active,
            channels=channels_of(row),
        )
        await publish_in_tx(conn, _event("alert.created", caller, row, data))
    return Alert.from_row(row)


async def get_alert(pool: asyncpg.Pool, caller: Caller, alert_id: UUID) -> Alert:
    async with pool.acquire() as conn:
        return Alert.from_row(await access.load(conn, caller, alert_id, "read"))


async def list_alerts(
    pool: asyncpg.Pool, caller: Caller, *, limit: int, cursor: str | None, query_id: UUID | None
) -> AlertPage:
    """The alerts of the caller's tenant it may read, oldest first. A page is read with one more
    row to know whether another follows; rows the caller may not read are skipped (owner-only
    read permissions are rare: alert:read has no conditions in the built-in roles)."""
    after = None if cursor is None else decode_cursor(cursor)
    async with pool.acquire() as conn:
        rows = await alerts.list_alerts(
            conn, caller.tenant_id, limit=limit + 1, after=after, query_id=query_id
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return AlertPage(
        items=[Alert.from_row(row) for row in rows if access.may_read(caller, row)],
        next_cursor=encode_cursor(rows[-1].created_at, rows[-1].id) if more else None,
    )


async def update_alert(
    engine: Engine, caller: Caller, access_token: str, alert_id: UUID, body: AlertUpdate
) -> Alert:
    """New parameter values are checked as at creation (``create_alert``)."""
    given = body.model_fields_set
    if not given:
        raise Invalid("nothing to change", code="empty_update")
    if body.schedule is not None:
        check_schedule(body.schedule, engine.settings.min_interval_s)
    box, pool = engine.box, engine.pool
    if body.parameter_values is not None:
        async with pool.acquire() as conn:
            current = await access.load(conn, caller, alert_id, "update")
        if current.query_id is not None:
            await check_saved_query(
                engine.datasource,
                caller.tenant_id,
                current.query_id,
                body.parameter_values,
                access_token,
            )
    for field in ("name", "condition_config", "notification_config", "schedule", "is_active"):
        if field in given and getattr(body, field) is None:
            raise Invalid(
                f"{field} cannot be null",
                details=[{"loc": ["body", field], "msg": "may not be null", "type": "null"}],
            )
    if body.notification_config is not None:
        await check_targets(engine.egress, body.notification_config)
    async with pool.acquire() as conn, conn.transaction():
        row = await access.load(conn, caller, alert_id, "update", for_update=True)
        changes: dict[str, Any] = {}
        for field in given:
            value = getattr(body, field)
            if field == "notification_config":
                assert body.notification_config is not None  # null refused above
                value = seal_channels(
                    box, row.id, body.notification_config, row.notification_config
                )
            elif field in ("parameter_values", "cooldown_s") and value is None:
                value = {} if field == "parameter_values" else 0
            changes[field] = _stored(value)
        active = changes.get("is_active", row.is_active)
        reschedule = "schedule" in changes or "is_active" in changes
        updated = await alerts.update_alert(
            conn,
            caller.tenant_id,
            row.id,
            changes,
            next_run_at=datetime.now(UTC) if active else None,
            reschedule=reschedule,
        )
        changed = tuple(dict.fromkeys(EVENT_FIELD[field] for field in given))
        await publish_in_tx(conn, updated_event(caller, updated, changed))
    return Alert.from_row(updated)


async def delete_alert(pool: asyncpg.Pool, caller: Caller, alert_id: UUID) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row = await access.load(conn, caller, alert_id, "delete", for_update=True)
        await alerts.delete_alert(conn, caller.tenant_id, row.id)
        await publish_in_tx(conn, _event("alert.deleted", caller, row, AlertDeletedV1()))
