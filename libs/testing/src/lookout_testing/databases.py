"""Per-test PostgreSQL databases: each test gets its own, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


@asynccontextmanager
async def temporary_database(server_dsn: str, prefix: str = "test") -> AsyncIterator[str]:
    """Create an empty database on ``server_dsn``'s server; yield its DSN; drop it on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{server_dsn.rstrip('/')}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{server_dsn.rstrip('/')}/{name}"
    finally:
        admin = await asyncpg.connect(f"{server_dsn.rstrip('/')}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
