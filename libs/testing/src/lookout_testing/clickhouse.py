"""Per-test ClickHouse databases on the real server, reached over HTTP with aiochclient."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiochclient import ChClient


@asynccontextmanager
async def temporary_clickhouse_database(url: str, prefix: str = "test") -> AsyncIterator[ChClient]:
    """Create an empty ClickHouse database; yield a client bound to it; drop it on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        admin = ChClient(session, url=url)
        await admin.execute(f"CREATE DATABASE {name}")
        try:
            yield ChClient(session, url=url, database=name)
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS {name}")
