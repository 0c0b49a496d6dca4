"""Per-test ClickHouse databases on the real server, reached with the kit's ClickHouse client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from lookout_kit.clickhouse import ClickHouse, client_session


@asynccontextmanager
async def temporary_clickhouse_database(
    url: str, prefix: str = "test"
) -> AsyncIterator[ClickHouse]:
    """Create an empty ClickHouse database; yield a client bound to it; drop it on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    async with client_session() as session:
        admin = ClickHouse(session, url=url, database="default", timeout_s=60)
        await admin.execute(f"CREATE DATABASE {name}")
        try:
            yield ClickHouse(session, url=url, database=name, timeout_s=60)
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS {name}")
