"""PostgreSQL through asyncpg.

An execution runs in ``BEGIN READ ONLY`` with ``SET LOCAL statement_timeout`` (the server stops
it; the three in one simple query, one round trip; the transaction committed at its end,
rolled back after an error) and ``application_name = 'lookout:<execution id>'`` (its handle: ``cancel`` finds it in
``pg_stat_activity`` from any replica and calls ``pg_cancel_backend``). Values are bound as
``$n`` with a cast from their Python type (asyncpg needs the type), rows are read through a
cursor, ``row_limit`` + 1 at most. A query is one statement (a prepared statement cannot hold two).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

import asyncpg

from lookout_datasource.service.connectors.base import (
    BadCredentials,
    Cancelled,
    Column,
    ColumnInfo,
    ConnectionConfig,
    ConnectorError,
    PostgresqlConfig,
    QueryError,
    QueryResult,
    QueryTimeout,
    ReadOnlyViolation,
    ServerInfo,
    SourcePool,
    UnknownDatabase,
    Unreachable,
)
from lookout_datasource.service.connectors.placeholders import expand
from lookout_datasource.service.connectors.results import elapsed_ms, result
from lookout_datasource.service.egress import EgressPolicy

GRACE_S = 2.0
"""How long past its timeout an execution may take before the client gives up on the server."""
APPLICATION_PREFIX = "lookout:"
INT8 = (-(2**63), 2**63 - 1)

_INTROSPECTION = """
SELECT table_schema, table_name, column_name, data_type, is_nullable = 'YES', column_default
FROM information_schema.columns
WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
  AND table_schema NOT LIKE 'pg\\_toast%' AND table_schema NOT LIKE 'pg\\_temp%'
ORDER BY table_schema, table_name, ordinal_position
"""


def _cast(value: Any) -> str:
    if isinstance(value, bool):
        return "::boolean"
    if isinstance(value, int):
        return "::bigint" if INT8[0] <= value <= INT8[1] else "::numeric"
    if isinstance(value, float):
        return "::float8"
    if isinstance(value, Decimal):
        return "::numeric"
    if isinstance(value, datetime):
        return "::timestamptz" if value.tzinfo else "::timestamp"
    if isinstance(value, date):
        return "::date"
    if isinstance(value, str):
        return "::text"
    return ""


def _error(error: BaseException, config: ConnectionConfig) -> ConnectorError:
    """``error`` as a connector error, with the password scrubbed."""
    secrets = (config.secret(),)
    message = str(error) or type(error).__name__
    if isinstance(error, ConnectorError):
        return error
    if isinstance(
        error,
        asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError,
    ):
        return BadCredentials(f"the server refused the login: {message}", secrets=secrets)
    if isinstance(error, asyncpg.InvalidCatalogNameError):
        return UnknownDatabase(message, secrets=secrets)
    if isinstance(error, asyncpg.ReadOnlySQLTransactionError):
        return ReadOnlyViolation(f"the data source is read-only here: {message}", secrets=secrets)
    if isinstance(error, asyncpg.QueryCanceledError):
        if "timeout" in message:
            return QueryTimeout(f"the query ran too long: {message}", secrets=secrets)
        return Cancelled("the query was cancelled", secrets=secrets)
    if isinstance(error, asyncpg.PostgresError | asyncpg.InterfaceError):
        return QueryError(message, secrets=secrets)
    if isinstance(error, TimeoutError):
        return QueryTimeout("the server did not answer in time", secrets=secrets)
    if isinstance(error, OSError | asyncpg.ClientConfigurationError):
        return Unreachable(f"cannot reach {config.host}:{config.port}: {message}", secrets=secrets)
    return QueryError(message, secrets=secrets)


class PostgresqlConnector:
    kind = "postgresql"

    def __init__(self, egress: EgressPolicy) -> None:
        self.egress = egress

    async def _connect(self, config: ConnectionConfig, **_: Any) -> asyncpg.Connection:
        settings = cast(PostgresqlConfig, config)
        addresses = await self.egress.resolve(settings.host, settings.port)
        for attempt, address in enumerate(addresses, start=1):
            try:
                return await asyncpg.connect(
                    host=address,
                    port=settings.port,
                    user=settings.user,
                    password=settings.secret() or None,
                    database=settings.database,
                    timeout=settings.connect_timeout_s,
                    ssl=settings.ssl_mode,
                    server_settings={"application_name": "lookout"},
                )
            except (OSError, TimeoutError) as error:
                if attempt == len(addresses):  # else the host's next (checked) address
                    raise _error(error, config) from None
            except Exception as error:
                raise _error(error, config) from None
        raise Unreachable(f"cannot reach {settings.host}:{settings.port}")

    @asynccontextmanager
    async def _connection(
        self, config: ConnectionConfig, pool: SourcePool | None
    ) -> AsyncIterator[asyncpg.Connection]:
        if pool is None:
            connection = await self._connect(config)
            try:
                yield connection
            finally:
                await connection.close(timeout=2)
            return
        try:
            async with cast(asyncpg.Pool, pool).acquire() as connection:
                yield connection
        except ConnectorError:
            raise
        except Exception as error:
            raise _error(error, config) from None

    async def open_pool(self, config: ConnectionConfig, *, max_size: int) -> SourcePool:
        async def connect(*_: Any, **__: Any) -> asyncpg.Connection:
            return await self._connect(config)

        pool = await asyncpg.create_pool(min_size=0, max_size=max_size, connect=connect)
        return cast(SourcePool, pool)

    async def test(self, config: ConnectionConfig) -> ServerInfo:
        connection = await self._connect(config)
        try:
            started = time.monotonic()
            version = await connection.fetchval("SHOW server_version")
            return ServerInfo(version=f"PostgreSQL {version}", latency_ms=elapsed_ms(started))
        except Exception as error:
            raise _error(error, config) from None
        finally:
            await connection.close(timeout=2)

    async def introspect(
        self, config: ConnectionConfig, *, pool: SourcePool | None = None
    ) -> list[ColumnInfo]:
        async with self._connection(config, pool) as connection:
            try:
                async with connection.transaction(readonly=True):
                    await connection.execute("SET LOCAL statement_timeout = 60000")
                    found = await connection.fetch(_INTROSPECTION)
            except Exception as error:
                raise _error(error, config) from None
        return [ColumnInfo(*row) for row in found]

    async def execute(
        self,
        config: ConnectionConfig,
        sql: str,
        parameters: dict[str, Any],
        *,
        row_limit: int,
        timeout_s: float,
        execution_id: UUID,
        pool: SourcePool | None = None,
    ) -> QueryResult:
        values: list[Any] = []

        def bound(value: Any) -> str:
            values.append(value)
            return f"${len(values)}{_cast(value)}"

        query = expand(sql, parameters, bound, backslash_escapes=False)
        started = time.monotonic()
        async with self._connection(config, pool) as connection:
            try:
                async with asyncio.timeout(timeout_s + GRACE_S):
                    # The transaction and its settings in one round trip (a simple query; the
                    # execution id is a UUID, the timeout a number).
                    await connection.execute(
                        "BEGIN READ ONLY;"
                        f"SET LOCAL statement_timeout = {max(1, round(timeout_s * 1000))};"
                        f"SET LOCAL application_name = '{APPLICATION_PREFIX}{execution_id}'"
                    )
                    try:
                        statement = await connection.prepare(query)
                        cursor = await statement.cursor(*values)
                        fetched = await cursor.fetch(row_limit + 1)
                        columns = [
                            Column(name=attribute.name, type=attribute.type.name)
                            for attribute in statement.get_attributes()
                        ]
                    except asyncio.CancelledError:
                        raise  # stopped mid-query: the pool's release rolls back or closes it
                    except BaseException:
                        with contextlib.suppress(Exception):
                            await connection.execute("ROLLBACK")
                        raise
                    await connection.execute("COMMIT")
            except TimeoutError:
                raise QueryTimeout("the query ran too long and was stopped") from None
            except Exception as error:
                raise _error(error, config) from None
        return result(columns, fetched, row_limit=row_limit, started=started)

    async def cancel(self, config: ConnectionConfig, execution_id: UUID) -> bool:
        connection = await self._connect(config)
        try:
            found = await connection.fetch(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = $1 AND pid <> pg_backend_pid()",
                f"{APPLICATION_PREFIX}{execution_id}",
            )
        except Exception as error:
            raise _error(error, config) from None
        finally:
            await connection.close(timeout=2)
        return any(row[0] for row in found)
