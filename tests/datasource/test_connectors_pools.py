"""ConnectorPools against the real servers: a pool per source reused, a new one when the config
changes, closed when idle, and at most ``max_concurrency`` executions of one source at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from lookout_datasource.service.connectors.base import ConnectorError, QueryResult
from lookout_datasource.service.connectors.pools import ConnectorPools
from lookout_testing.waiting import wait_until

from .connector_sources import (  # noqa: F401
    LOOPBACK,
    Source,
    source_fixture,
    source_server_fixture,
)

CONNECTION_ID = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}


async def _execute(
    pools: ConnectorPools,
    source_id: uuid.UUID,
    source: Source,
    sql: str,
    *,
    config: Any = None,
    timeout_s: float = 10,
    execution_id: uuid.UUID | None = None,
) -> QueryResult:
    return await pools.execute(
        source_id,
        source.kind,
        config or source.config,
        sql,
        {},
        row_limit=10,
        timeout_s=timeout_s,
        execution_id=execution_id or uuid.uuid4(),
    )


@pytest.mark.parametrize("source_server", ["postgresql", "mysql"], indirect=True)
async def test_a_source_reuses_its_connections_until_its_config_changes(source: Source) -> None:
    pools = ConnectorPools(LOOPBACK)
    source_id = uuid.uuid4()
    try:
        query = CONNECTION_ID[source.kind]
        first = (await _execute(pools, source_id, source, query)).rows
        assert (await _execute(pools, source_id, source, query)).rows == first
        assert pools.open_sources() == 1
        changed = source.config.model_copy(update={"connect_timeout_s": 7.0})
        after = (await _execute(pools, source_id, source, query, config=changed)).rows
        assert after != first
        assert (await _execute(pools, source_id, source, query, config=changed)).rows == after
        assert pools.open_sources() == 1
    finally:
        await pools.close()


async def test_idle_pools_are_closed(source: Source) -> None:
    pools = ConnectorPools(LOOPBACK, idle_close_s=60)
    try:
        await _execute(pools, uuid.uuid4(), source, "SELECT 1")
        assert await pools.close_idle() == 0
        assert pools.open_sources() == 1
        assert await pools.close_idle(now=time.monotonic() + 61) == 1
        assert pools.open_sources() == 0
        assert (await _execute(pools, uuid.uuid4(), source, "SELECT 2")).rows == [[2]]
    finally:
        await pools.close()
    assert pools.open_sources() == 0


async def test_a_source_runs_at_most_its_concurrency_limit(source: Source) -> None:
    pools = ConnectorPools(LOOPBACK, max_concurrency=1)
    source_id = uuid.uuid4()
    marker = f"m{uuid.uuid4().hex}"
    execution_id = uuid.uuid4()
    long = asyncio.create_task(
        _execute(
            pools,
            source_id,
            source,
            source.long_query(marker),
            timeout_s=30,
            execution_id=execution_id,
        )
    )
    try:
        await wait_until(lambda: source.running(marker), timeout=10, message="the long query")
        started = time.monotonic()
        with pytest.raises(ConnectorError) as raised:
            await _execute(pools, source_id, source, "SELECT 1", timeout_s=0.5)
        assert raised.value.code == "timeout"
        assert "busy" in raised.value.message
        assert time.monotonic() - started < 2
        assert (await _execute(pools, uuid.uuid4(), source, "SELECT 3")).rows == [[3]]
        assert await pools.cancel(source.kind, source.config, execution_id) is True
        with pytest.raises(ConnectorError):
            await asyncio.wait_for(long, timeout=10)
        assert (await _execute(pools, source_id, source, "SELECT 4")).rows == [[4]]
    finally:
        long.cancel()
        await pools.close()
