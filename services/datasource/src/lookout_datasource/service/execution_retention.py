"""How long execution records stay: one replica per ``execution_prune_interval_s`` (the kit's
``periodic_tasks`` turn ``datasource.executions.prune``) marks the executions a stopped replica
left ``running`` as ``failed`` (``lost``) once they are far past any timeout, and deletes the
records older than ``execution_retention_hours``, in chunks. The events of the executions stay
where they went (``query_metrics``): only the records for status and cancel go."""

from __future__ import annotations

import logging
from datetime import timedelta

import asyncpg
from lookout_kit.lease import take_turn

from lookout_datasource.repository import executions
from lookout_datasource.settings import Settings

logger = logging.getLogger("lookout.datasource.execution_retention")

PRUNE_TASK = "datasource.executions.prune"
CHUNK = 5_000
LOST_MARGIN_S = 300.0


async def prune_executions(pool: asyncpg.Pool, settings: Settings) -> tuple[int, int]:
    """Mark the lost, delete the old: (lost, deleted)."""
    async with pool.acquire() as conn:
        lost = await executions.mark_lost(conn, 2 * settings.execution_timeout_s + LOST_MARGIN_S)
    deleted = 0
    while True:
        async with pool.acquire() as conn:
            chunk = await executions.delete_older(
                conn, settings.execution_retention_hours * 3600, limit=CHUNK
            )
        deleted += chunk
        if chunk < CHUNK:
            return lost, deleted


async def prune_turn(pool: asyncpg.Pool, settings: Settings, owner: str) -> bool:
    """Prune if this replica gets the turn; whether it did."""
    interval = settings.execution_prune_interval_s
    pruned = await take_turn(
        pool,
        PRUNE_TASK,
        lambda: prune_executions(pool, settings),
        owner=owner,
        every=timedelta(seconds=interval),
        lease_s=max(interval, 60.0),
    )
    if pruned is None:
        return False
    lost, deleted = pruned
    if lost or deleted:
        logger.info("execution records pruned", extra={"lost": lost, "deleted": deleted})
    return True
