"""MySQL and MariaDB through asyncmy.

A connection has multi-statements off (asyncmy turns them on; a query is one statement) and
``time_zone = '+00:00'``. An execution is one statement (autocommit: its own transaction) run
after ``SET SESSION max_statement_time = …, SESSION tx_read_only = 1`` (one round trip; MySQL's
``max_execution_time`` and ``transaction_read_only``): every transaction of the session is then
read-only, which refuses writes and DDL alike (a read-only transaction alone would not stop DDL,
which commits it first), and the server stops the query at the timeout. Both are set again for
every execution, as a query may have changed them. Its text starts with ``/* lookout:<execution id> */``,
its handle: ``cancel`` finds it in ``information_schema.PROCESSLIST`` from any replica and runs
``KILL QUERY``. Values are bound by the driver (``%s``, escaped for the server's SQL mode);
``%`` in the text is doubled for it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import asyncmy
from asyncmy.constants import CLIENT, FIELD_TYPE
from asyncmy.constants.SERVER_STATUS import SERVER_STATUS_IN_TRANS as IN_TRANSACTION
from asyncmy.constants.SERVER_STATUS import (
    SERVER_STATUS_NO_BACKSLASH_ESCAPES as NO_BACKSLASH_ESCAPES,
)
from asyncmy.cursors import SSCursor
from asyncmy.errors import MySQLError

from lookout_datasource.service.connectors.base import (
    BadCredentials,
    Cancelled,
    Column,
    ColumnInfo,
    ConnectionConfig,
    ConnectorError,
    MysqlConfig,
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
MARK = "/* lookout:{execution_id} */ "
_BAD_CREDENTIALS = {1045, 1698, 1251}
_CODES: dict[int, type[ConnectorError]] = {
    1044: UnknownDatabase,
    1049: UnknownDatabase,
    1792: ReadOnlyViolation,
    1290: ReadOnlyViolation,
    1969: QueryTimeout,
    3024: QueryTimeout,
    1317: Cancelled,
    2003: Unreachable,
    2013: Unreachable,
}
_INTROSPECTION = """
SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE = 'YES', COLUMN_DEFAULT
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME, ORDINAL_POSITION
"""
# The protocol's field type codes → names (FIELD_TYPE's constants, inverted).
_TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(FIELD_TYPE).items()
    if name.isupper() and isinstance(value, int)
}


def _error(error: BaseException, config: ConnectionConfig) -> ConnectorError:
    secrets = (config.secret(),)
    if isinstance(error, ConnectorError):
        return error
    if isinstance(error, MySQLError) and len(error.args) >= 2:
        code, message = error.args[0], str(error.args[1])
        if code in _BAD_CREDENTIALS:
            return BadCredentials(f"the server refused the login: {message}", secrets=secrets)
        if code in _CODES:
            return _CODES[code](message, secrets=secrets)
        return QueryError(message, secrets=secrets)
    if isinstance(error, TimeoutError):
        return QueryTimeout("the server did not answer in time", secrets=secrets)
    if isinstance(error, OSError):
        return Unreachable(f"cannot reach {config.host}:{config.port}: {error}", secrets=secrets)
    return QueryError(str(error) or type(error).__name__, secrets=secrets)


def _value(value: Any) -> Any:
    """A datetime with a zone as UTC (the session's zone), which MySQL's DATETIME lacks."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


class MysqlPool:
    """Idle connections to one source, reused; at most ``max_size`` open at once."""

    def __init__(self, connector: MysqlConnector, config: ConnectionConfig, max_size: int) -> None:
        self._connector = connector
        self._config = config
        self._idle: list[asyncmy.Connection] = []
        self._slots = asyncio.Semaphore(max_size)
        self._closed = False

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncmy.Connection]:
        async with self._slots:
            connection = self._idle.pop() if self._idle else None
            if connection is None or not connection.connected:
                connection = await self._connector.connect(self._config)
            try:
                yield connection
            except BaseException:
                connection.close()
                raise
            if self._closed:
                connection.close()
            elif connection.connected:
                self._idle.append(connection)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class MysqlConnector:
    kind = "mysql"

    def __init__(self, egress: EgressPolicy) -> None:
        self.egress = egress

    async def connect(self, config: ConnectionConfig) -> asyncmy.Connection:
        """A new connection to ``config``'s first checked address that answers."""
        settings = cast(MysqlConfig, config)
        addresses = await self.egress.resolve(settings.host, settings.port)
        for attempt, address in enumerate(addresses, start=1):
            try:
                return await self._connect_to(address, settings)
            except Unreachable:
                if attempt == len(addresses):  # else the host's next (checked) address
                    raise
        raise Unreachable(f"cannot reach {settings.host}:{settings.port}")

    async def _connect_to(self, address: str, settings: MysqlConfig) -> asyncmy.Connection:
        context = None
        if settings.ssl:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        connection = asyncmy.Connection(
            host=address,
            port=settings.port,
            user=settings.user,
            password=settings.secret(),
            database=settings.database,
            connect_timeout=settings.connect_timeout_s,
            charset="utf8mb4",
            autocommit=True,
            ssl=context,
            init_command="SET time_zone = '+00:00'",
            program_name="lookout",
        )
        connection._client_flag &= ~CLIENT.MULTI_STATEMENTS
        try:
            await connection.connect()
        except Exception as error:
            connection.close()
            raise _error(error, settings) from None
        return connection

    @asynccontextmanager
    async def _connection(
        self, config: ConnectionConfig, pool: SourcePool | None
    ) -> AsyncIterator[asyncmy.Connection]:
        if pool is not None:
            async with cast(MysqlPool, pool).acquire() as connection:
                yield connection
            return
        connection = await self.connect(config)
        try:
            yield connection
        finally:
            connection.close()

    async def open_pool(self, config: ConnectionConfig, *, max_size: int) -> SourcePool:
        return MysqlPool(self, config, max_size)

    async def test(self, config: ConnectionConfig) -> ServerInfo:
        async with self._connection(config, None) as connection:
            started = time.monotonic()
            try:
                async with connection.cursor() as cursor:
                    await cursor.execute("SELECT VERSION()")
                    (version,) = await cursor.fetchone()
            except Exception as error:
                raise _error(error, config) from None
        flavour = "MariaDB" if "mariadb" in str(version).lower() else "MySQL"
        return ServerInfo(version=f"{flavour} {version}", latency_ms=elapsed_ms(started))

    async def introspect(
        self, config: ConnectionConfig, *, pool: SourcePool | None = None
    ) -> list[ColumnInfo]:
        async with self._connection(config, pool) as connection:
            try:
                async with connection.cursor() as cursor:
                    await cursor.execute(_INTROSPECTION)
                    found = await cursor.fetchall()
            except Exception as error:
                raise _error(error, config) from None
        return [
            ColumnInfo(str(row[0]), str(row[1]), str(row[2]), str(row[3]), bool(row[4]), row[5])
            for row in found
        ]

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
            values.append(_value(value))
            return "%s"

        started = time.monotonic()
        async with self._connection(config, pool) as connection:
            query = MARK.format(execution_id=execution_id) + expand(
                sql,
                parameters,
                bound,
                text=lambda part: part.replace("%", "%%"),
                backslash_escapes=not connection.server_status & NO_BACKSLASH_ESCAPES,
                hash_comments=True,
            )
            # autocommit = 1 first: it ends any transaction a query left open on this pooled
            # connection (``SET autocommit = 0`` is allowed read-only), whose snapshot would
            # otherwise serve every later execution stale rows.
            session = (
                "SET SESSION autocommit = 1,"
                f" SESSION max_statement_time = {max(timeout_s, 0.001):.3f},"
                " SESSION tx_read_only = 1"
                if "mariadb" in connection.get_server_info().lower()
                else "SET SESSION autocommit = 1,"
                f" SESSION max_execution_time = {max(1, round(timeout_s * 1000))},"
                " SESSION transaction_read_only = 1"
            )
            try:
                async with asyncio.timeout(timeout_s + GRACE_S):
                    cursor = connection.cursor(SSCursor)
                    # Both settings in one statement, again for every execution (a query may
                    # have changed them: they are the session's).
                    await cursor.execute(session)
                    await cursor.execute(query, tuple(values))
                    fetched = await cursor.fetchmany(row_limit + 1)
                    columns = [
                        Column(name=field[0], type=_TYPE_NAMES.get(field[1], "unknown"))
                        for field in cursor.description or ()
                    ]
                    if len(fetched) > row_limit or connection.server_status & IN_TRANSACTION:
                        # Rows left unread, or a transaction the query opened: not reusable.
                        connection.close()
                    else:
                        await cursor.close()
            except TimeoutError:
                await asyncio.shield(self._kill(config, execution_id))
                raise QueryTimeout("the query ran too long and was stopped") from None
            except asyncio.CancelledError:
                # The caller went away: the server would run on (it notices a closed connection
                # only when it writes), so the query is stopped there too.
                await asyncio.shield(self._kill(config, execution_id))
                raise
            except Exception as error:
                raise _error(error, config) from None
        return result(columns, fetched, row_limit=row_limit, started=started)

    async def _kill(self, config: ConnectionConfig, execution_id: UUID) -> bool:
        mark = MARK.format(execution_id=execution_id)
        async with self._connection(config, None) as connection:
            try:
                async with connection.cursor() as cursor:
                    await cursor.execute(
                        "SELECT ID FROM information_schema.PROCESSLIST"
                        " WHERE INFO LIKE %s AND ID <> CONNECTION_ID()",
                        (mark + "%",),
                    )
                    found = await cursor.fetchall()
                    for (thread,) in found:
                        await cursor.execute("KILL QUERY %s", (int(thread),))
            except Exception as error:
                raise _error(error, config) from None
        return bool(found)

    async def cancel(self, config: ConnectionConfig, execution_id: UUID) -> bool:
        return await self._kill(config, execution_id)
