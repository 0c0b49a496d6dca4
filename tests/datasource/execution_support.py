"""Support for the execution tests: a PostgreSQL database of the test's own as the data source
(a ``sales`` table), service tokens as identity signs them, and the ``query.executed`` events."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
from lookout_testing.servers import Servers
from lookout_testing.topics import TopicCapture

from .support import PASSWORD, Client, SigningKeys

SALES = [("eu", 10, "2026-01-05"), ("eu", 20, "2026-02-01"), ("us", 5, "2026-01-10")]


async def sales_database(dsn: str) -> dict[str, Any]:
    """Fill the database at ``dsn`` with ``sales``; the ``connection_config`` of a source on it."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "CREATE TABLE sales (region text NOT NULL, amount integer NOT NULL, sold_on date)"
        )
        await connection.executemany("INSERT INTO sales VALUES ($1, $2, $3::text::date)", SALES)
    finally:
        await connection.close()
    return {
        "host": "127.0.0.1",
        "port": 5432,
        "database": dsn.rsplit("/", 1)[1],
        "user": "postgres",
        "password": PASSWORD,
        "ssl_mode": "disable",
    }


async def sales_source(client: Client, dsn: str) -> dict[str, Any]:
    return await client.create_source(connection_config=await sales_database(dsn))


def service_token(
    keys: SigningKeys, service: str, tenant_id: uuid.UUID | None, *, ttl_s: int = 600
) -> str:
    """A service token as identity issues it (``POST /auth/service-token``)."""
    return keys.service_token(service, tenant_id, ttl_s=ttl_s)


async def executed_events(
    servers: Servers, data_source_id: str, count: int, *, settle_s: float = 0.0
) -> list[dict[str, Any]]:
    """The ``query.executed`` events of a source, once ``count`` are there (and, with
    ``settle_s``, after waiting that long more for any extra one)."""
    found: list[dict[str, Any]] = []
    async with TopicCapture(servers.kafka, "datasource.events") as capture:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            await capture.poll()
            found = [
                e
                for e in capture.envelopes()
                if e["type"] == "query.executed" and e["data"]["data_source_id"] == data_source_id
            ]
            if len(found) >= count:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"only {len(found)} of {count} query.executed events: {found}")
        if settle_s:
            await asyncio.sleep(settle_s)
            await capture.poll()
            found = [
                e
                for e in capture.envelopes()
                if e["type"] == "query.executed" and e["data"]["data_source_id"] == data_source_id
            ]
    return found


async def running_on_server(dsn: str, marker: str) -> list[str]:
    """The ``application_name`` of the active backends running a query with ``marker``."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT application_name FROM pg_stat_activity WHERE state = 'active'"
            " AND query LIKE '%' || $1 || '%' AND query NOT LIKE '%pg_stat_activity%'",
            marker,
        )
    finally:
        await connection.close()
    return [row[0] for row in rows]
