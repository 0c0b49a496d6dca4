"""The kit's pool gives back what a burst opened: connections above the minimum, unused for
``idle_s``, are closed (the machine's PostgreSQL has 100 clients for the stack and the tests)."""

from __future__ import annotations

import asyncio

from lookout_kit.database import create_pool
from lookout_testing.waiting import wait_until


async def test_a_bursts_connections_close_after_idle_s(database: str) -> None:
    pool = await create_pool(database, min_size=1, max_size=5, idle_s=0.5)
    try:

        async def hold() -> None:
            async with pool.acquire() as conn:
                await conn.execute("SELECT pg_sleep(0.1)")

        await asyncio.gather(*(hold() for _ in range(5)))
        assert pool.get_size() == 5

        async def back_to_the_minimum() -> bool:
            return pool.get_size() == 1

        await wait_until(back_to_the_minimum, timeout=5, message="the idle connections to close")
    finally:
        await pool.close()
