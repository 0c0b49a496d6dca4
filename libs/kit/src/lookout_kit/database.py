"""PostgreSQL: the service's own database (created when missing) and its asyncpg pool."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit, urlunsplit

import asyncpg

logger = logging.getLogger("lookout.database")


def split_database(dsn: str) -> tuple[str, str]:
    """Split a DSN into (DSN of the server's maintenance database, the database's name)."""
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    if not name:
        raise ValueError("the database URL must name a database")
    return urlunsplit(parts._replace(path="/postgres")), name


async def ensure_database(dsn: str) -> None:
    """Create the service's database if the server does not have it yet (idempotent, race-safe)."""
    server_dsn, name = split_database(dsn)
    conn = await asyncpg.connect(server_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            quoted = '"' + name.replace('"', '""') + '"'
            try:
                await conn.execute(f"CREATE DATABASE {quoted}")
                logger.info("created database", extra={"database": name})
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # another replica created it first
    finally:
        await conn.close()


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A released connection's reset beyond asyncpg's own (which rolls back an open transaction
    and drops listeners): none.

    asyncpg's default reset is one more round trip per release (``RESET ALL``, ``UNLISTEN *``,
    ``CLOSE ALL``, advisory unlocks): on a read of one query it is a third of the database work.
    Services' pools keep no session state: settings are ``SET LOCAL``, advisory locks
    transaction-scoped, ``LISTEN`` on a connection of its own (the relay).
    """


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    idle_s: float = 300.0,
    server_settings: dict[str, str] | None = None,
) -> asyncpg.Pool:
    """``idle_s``: a connection above ``min_size`` unused this long is closed (a burst's
    connections do not stay held)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_inactive_connection_lifetime=idle_s,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=60,
        server_settings=server_settings,
    )
    assert pool is not None
    return pool
