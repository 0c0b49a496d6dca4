"""Execution records are kept ``execution_retention_hours``, and one a stopped replica left
``running`` becomes ``failed`` (``lost``) far past any timeout; one replica per interval does it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from lookout_datasource.service.execution_retention import PRUNE_TASK, prune_executions, prune_turn
from lookout_datasource.settings import Settings
from lookout_kit.database import create_pool

from .conftest import DatasourceService
from .support import ADMIN, Actor


@pytest.fixture
async def pool(datasource: DatasourceService) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(datasource.database, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def test_old_records_go_and_lost_ones_are_failed(
    datasource: DatasourceService, tenant: uuid.UUID, pool: asyncpg.Pool
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await admin.create_source()
    ids = {name: uuid.uuid4() for name in ("old", "lost", "running", "recent")}
    ages = {"old": "8 days", "lost": "2 hours", "running": "1 minute", "recent": "1 day"}
    async with pool.acquire() as conn:
        for name, id_ in ids.items():
            await conn.execute(
                "INSERT INTO query_executions (id, tenant_id, user_id, data_source_id, status,"
                " started_at) VALUES ($1, $2, $3, $4, $5, now() - $6::text::interval)",
                id_,
                tenant,
                admin.actor.user_id,
                uuid.UUID(source["id"]),
                "success" if name in ("old", "recent") else "running",
                ages[name],
            )
    settings = Settings(database_url=datasource.database, execution_timeout_s=30)
    lost, deleted = await prune_executions(pool, settings)
    assert lost >= 1 and deleted >= 1
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, status, error_code, finished_at FROM query_executions WHERE tenant_id = $1",
            tenant,
        )
    left = {row["id"]: row for row in rows}
    assert ids["old"] not in left
    assert (left[ids["lost"]]["status"], left[ids["lost"]]["error_code"]) == ("failed", "lost")
    assert left[ids["lost"]]["finished_at"] is not None
    assert left[ids["running"]]["status"] == "running"
    assert left[ids["recent"]]["status"] == "success"
    path = f"/executions/{ids['lost']}"
    assert (await admin.request("GET", path)).json()["status"] == "failed"


async def test_one_replica_prunes_per_interval(
    pool: asyncpg.Pool, datasource: DatasourceService
) -> None:
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM periodic_tasks WHERE name = $1", PRUNE_TASK)
    settings = Settings(database_url=datasource.database, execution_prune_interval_s=3600)
    assert await prune_turn(pool, settings, "replica-a") is True
    assert await prune_turn(pool, settings, "replica-b") is False
    assert await prune_turn(pool, settings, "replica-a") is False  # the next turn is an hour away
