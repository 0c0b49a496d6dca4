"""A data source of each kind on the machine's real servers, for the connector suites: a fresh
database with a ``people`` table, the connector, and a look at the server's own process list."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncmy
import asyncpg
import pytest
from lookout_datasource.service.connectors import registry
from lookout_datasource.service.connectors.base import ConnectionConfig, Connector
from lookout_datasource.service.egress import EgressPolicy
from lookout_kit.clickhouse import ClickHouse
from lookout_testing.mysql import MysqlDatabase

LOOPBACK = EgressPolicy(allow_loopback=True)
PEOPLE = [(1, "ann"), (2, "bob"), (3, "o'hara")]


@dataclass
class Source:
    kind: str
    config: ConnectionConfig
    connector: Connector
    run: Callable[[str], Awaitable[list[tuple[Any, ...]]]]
    """Run SQL as the database's owner (outside the connector); the rows."""
    long_query: Callable[[str], str]
    """A query that runs far longer than a test, carrying ``marker`` in its text."""
    running: Callable[[str], Awaitable[int]]
    """How many queries with ``marker`` in their text the server's process list shows running."""
    writes: tuple[str, ...]
    """INSERT, UPDATE, DELETE, DROP, CREATE in this kind's dialect."""

    async def people(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self.run("SELECT id, name FROM people ORDER BY id")]


def _values() -> str:
    return ", ".join(f"({id_}, '{name.replace(chr(39), chr(39) * 2)}')" for id_, name in PEOPLE)


async def postgresql_source(dsn: str) -> Source:
    async def run(sql: str) -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(dsn)
        try:
            return [tuple(row) for row in await connection.fetch(sql)]
        finally:
            await connection.close()

    await run("CREATE TABLE people (id integer NOT NULL, name text)")
    await run(f"INSERT INTO people VALUES {_values()}")

    async def running(marker: str) -> int:
        found = await run(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
            f" AND query LIKE '%{marker}%' AND query NOT LIKE '%pg_stat_activity%'"
        )
        return int(found[0][0])

    config = registry.config_model("postgresql").model_validate(
        {
            "host": "127.0.0.1",
            "port": 5432,
            "database": dsn.rsplit("/", 1)[1],
            "user": "postgres",
            "password": f"pw-{uuid.uuid4().hex}",
            "ssl_mode": "disable",
        }
    )
    return Source(
        kind="postgresql",
        config=config,
        connector=registry.connector("postgresql", LOOPBACK),
        run=run,
        long_query=lambda marker: f"SELECT pg_sleep(60), '{marker}'",
        running=running,
        writes=(
            "INSERT INTO people VALUES (9, 'mallory')",
            "UPDATE people SET name = 'mallory'",
            "DELETE FROM people",
            "DROP TABLE people",
            "CREATE TABLE other (id integer)",
        ),
    )


async def clickhouse_source(client: ClickHouse) -> Source:
    async def run(sql: str) -> list[tuple[Any, ...]]:
        if sql.lstrip().upper().startswith("SELECT"):
            return [tuple(row.values()) for row in await client.rows(sql)]
        await client.execute(sql)
        return []

    await run("CREATE TABLE people (id Int32, name String) ENGINE = MergeTree ORDER BY id")
    await run(f"INSERT INTO people VALUES {_values().replace(chr(39) * 2, chr(92) + chr(39))}")

    async def running(marker: str) -> int:
        found = await client.rows(
            "SELECT count() AS n FROM system.processes"
            f" WHERE query LIKE '%{marker}%' AND query NOT LIKE '%system.processes%'"
        )
        return int(found[0]["n"])

    config = registry.config_model("clickhouse").model_validate(
        {"host": "127.0.0.1", "port": 8123, "database": client.database, "user": "default"}
    )
    return Source(
        kind="clickhouse",
        config=config,
        connector=registry.connector("clickhouse", LOOPBACK),
        run=run,
        # 65,536 rows a block, 20 µs a row: ~1.3 s a block, with no end (ClickHouse checks its
        # limits and a KILL between blocks).
        long_query=lambda marker: (
            "SELECT count() FROM (SELECT sleepEachRow(0.00002) FROM system.numbers)"
            f" WHERE '{marker}' != ''"
        ),
        running=running,
        writes=(
            "INSERT INTO people VALUES (9, 'mallory')",
            "ALTER TABLE people UPDATE name = 'mallory' WHERE 1",
            "ALTER TABLE people DELETE WHERE 1",
            "DROP TABLE people",
            "CREATE TABLE other (id Int32) ENGINE = Memory",
        ),
    )


async def mysql_source(database: MysqlDatabase) -> Source:
    async def run(sql: str) -> list[tuple[Any, ...]]:
        connection = await asyncmy.connect(
            host=database.host,
            port=database.port,
            user=database.user,
            password=database.password,
            database=database.database,
            autocommit=True,
        )
        try:
            async with connection.cursor() as cursor:
                await cursor.execute(sql)
                return [tuple(row) for row in await cursor.fetchall()]
        finally:
            connection.close()

    await run("CREATE TABLE people (id INT NOT NULL, name VARCHAR(100))")
    await run(f"INSERT INTO people VALUES {_values()}")

    async def running(marker: str) -> int:
        found = await run(
            "SELECT count(*) FROM information_schema.PROCESSLIST"
            f" WHERE INFO LIKE '%{marker}%' AND INFO NOT LIKE '%PROCESSLIST%'"
        )
        return int(found[0][0])

    config = registry.config_model("mysql").model_validate(
        {
            "host": database.host,
            "port": database.port,
            "database": database.database,
            "user": database.user,
            "password": database.password,
        }
    )
    return Source(
        kind="mysql",
        config=config,
        connector=registry.connector("mysql", LOOPBACK),
        run=run,
        long_query=lambda marker: f"SELECT SLEEP(60), '{marker}'",
        running=running,
        writes=(
            "INSERT INTO people VALUES (9, 'mallory')",
            "UPDATE people SET name = 'mallory'",
            "DELETE FROM people",
            "DROP TABLE people",
            "CREATE TABLE other (id INT)",
        ),
    )


_SERVER_FIXTURES = {"postgresql": "database", "clickhouse": "clickhouse", "mysql": "mysql_database"}


@pytest.fixture(name="source_server", params=registry.KINDS)
def source_server_fixture(request: pytest.FixtureRequest) -> tuple[str, Any]:
    """Each kind in turn, with a fresh database on its server (the plugin's fixtures)."""
    return request.param, request.getfixturevalue(_SERVER_FIXTURES[request.param])


@pytest.fixture(name="source")
async def source_fixture(source_server: tuple[str, Any]) -> Source:
    """A source of each kind in turn, on a database of this test's own."""
    kind, server = source_server
    if kind == "postgresql":
        return await postgresql_source(server)
    if kind == "clickhouse":
        return await clickhouse_source(server)
    return await mysql_source(server)
