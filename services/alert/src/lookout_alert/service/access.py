"""Who may do what with an alert: the role permissions ``alert:<action>`` (``read``, ``create``,
``update``, ``delete``; ``admin`` is all), whose conditions (``owner_only``, ``ids``) must hold for
the alert. A caller who may not read an alert cannot see it: 404, as for another tenant's; one who
sees it but lacks the action gets 403. Evaluating now and sending a test notification need
``update``; the history needs ``read``."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import asyncpg
from lookout_kit.auth.caller import Caller
from lookout_kit.auth.policy import Target, can
from lookout_kit.errors import Forbidden, NotFound

from lookout_alert.repository import alerts
from lookout_alert.repository.alerts import AlertRow

ALERT = "alert"
NO_ALERT = "no such alert"
Action = Literal["read", "update", "delete"]


def target_of(row: AlertRow) -> Target:
    return Target.of(row.tenant_id, id=row.id, owner_id=row.user_id)


def check(caller: Caller, row: AlertRow | None, action: Action) -> AlertRow:
    if row is None or row.tenant_id != caller.tenant_id:
        raise NotFound(NO_ALERT)
    target = target_of(row)
    if not can(caller, "read", ALERT, target):
        raise NotFound(NO_ALERT)
    if action != "read" and not can(caller, action, ALERT, target):
        raise Forbidden(f"your role may not {action} this alert")
    return row


async def load(
    conn: asyncpg.Connection,
    caller: Caller,
    alert_id: UUID,
    action: Action,
    *,
    for_update: bool = False,
) -> AlertRow:
    """The caller's tenant's alert if the caller may ``action`` it (404 / 403 otherwise)."""
    row = await alerts.get_alert(conn, caller.tenant_id, alert_id, for_update=for_update)
    return check(caller, row, action)


def may_create(caller: Caller) -> bool:
    return can(caller, "create", ALERT, Target.of(caller.tenant_id, owner_id=caller.user_id))


def may_read(caller: Caller, row: AlertRow) -> bool:
    return can(caller, "read", ALERT, target_of(row))
