"""The kit's asyncpg pool: a released connection goes back without a reset round trip, and what
must not outlive a use (an open transaction) still does not."""

from __future__ import annotations

from typing import Any

from lookout_kit.database import create_pool


async def test_a_release_sends_no_reset_statement(database: str) -> None:
    pool = await create_pool(database, min_size=1, max_size=1)
    try:
        statements: list[str] = []
        async with pool.acquire() as conn:
            raw = conn._con  # the pooled connection itself: its logger outlives the proxy
            raw.add_query_logger(lambda record: statements.append(record.query))
            await conn.fetchval("SELECT 1")
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 2")
        assert statements == ["SELECT 1", "SELECT 2"]
    finally:
        await pool.close()


async def test_a_transaction_left_open_is_rolled_back_on_release(database: str) -> None:
    pool = await create_pool(database, min_size=1, max_size=1)
    try:
        await pool.execute("CREATE TABLE marks (n int)")
        conn: Any = await pool.acquire()
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO marks VALUES (1)")
        await pool.release(conn)
        async with pool.acquire() as again:
            assert not again.is_in_transaction()
            assert await again.fetchval("SELECT count(*) FROM marks") == 0
    finally:
        await pool.close()
