"""An execution's record: its status (``GET /executions/{id}``) and its cancel, from any replica.

The one who started an execution, a tenant admin (``tenant:admin``) or an admin of its source
(``data_source:admin``) may see and cancel it; another user of the tenant gets 403, another
tenant 404. Cancel asks the source's server to stop the query by the execution's id (the
connector's ``cancel``); the replica running it then records ``cancelled`` and publishes the event.
An execution not yet on its server (waiting for a slot of its source, or a connection) is stopped
when the cancel reaches the replica running it; on another replica it finds nothing to stop
(``cancelled: false``) and runs on.
"""

from __future__ import annotations

import logging
from uuid import UUID

import asyncpg
from lookout_kit.auth.caller import Caller
from lookout_kit.auth.policy import Target, can
from lookout_kit.errors import Forbidden, NotFound

from lookout_datasource.repository import executions
from lookout_datasource.repository.executions import ExecutionRow
from lookout_datasource.schemas.executions import CancelOutcome, Execution
from lookout_datasource.service import access
from lookout_datasource.service.data_sources import get_data_source_with_secrets
from lookout_datasource.service.engine import Engine

logger = logging.getLogger("lookout.datasource.executions")

NO_EXECUTION = "no such execution"


def _check_execution(caller: Caller, row: ExecutionRow | None) -> ExecutionRow:
    """The caller's tenant's execution if the caller started it or administers the tenant or the
    source (403 otherwise; 404 for none, or another tenant's)."""
    if row is None or row.tenant_id != caller.tenant_id:
        raise NotFound(NO_EXECUTION)
    tenant = Target.of(caller.tenant_id, id=caller.tenant_id)
    source = Target.of(caller.tenant_id, id=row.data_source_id)
    if (
        row.user_id != caller.user_id
        and not can(caller, "admin", "tenant", tenant)
        and not can(caller, "admin", access.DATA_SOURCE, source)
    ):
        raise Forbidden("only who started an execution, or an admin, may see or cancel it")
    return row


async def get_execution(pool: asyncpg.Pool, caller: Caller, execution_id: UUID) -> Execution:
    async with pool.acquire() as conn:
        row = await executions.get_execution(conn, caller.tenant_id, execution_id)
    return Execution.from_row(_check_execution(caller, row))


async def cancel_execution(
    pool: asyncpg.Pool, engine: Engine, caller: Caller, execution_id: UUID
) -> CancelOutcome:
    """Stop a running execution on its server, whichever replica runs it."""
    async with pool.acquire() as conn:
        row = _check_execution(
            caller, await executions.get_execution(conn, caller.tenant_id, execution_id)
        )
        if row.status != "running":
            return CancelOutcome(execution_id=row.id, cancelled=False, status=row.status)
        try:
            data_source, config = await get_data_source_with_secrets(
                conn, engine.box, caller.tenant_id, row.data_source_id
            )
        except NotFound:
            return CancelOutcome(execution_id=row.id, cancelled=False, status=row.status)
    cancelled = await engine.pools.cancel(data_source.type, config, execution_id)
    if not cancelled:
        # Not on its server (yet): waiting for a slot or a connection, in this replica maybe.
        cancelled = engine.cancel_local(execution_id)
    logger.info(
        "execution cancel asked",
        extra={"execution_id": str(execution_id), "cancelled": cancelled},
    )
    status = "cancelled" if cancelled else row.status
    if not cancelled:
        async with pool.acquire() as conn:
            now = await executions.get_execution(conn, caller.tenant_id, execution_id)
        status = now.status if now is not None else status
    return CancelOutcome(execution_id=row.id, cancelled=cancelled, status=status)
