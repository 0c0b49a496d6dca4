"""ClickHouse over HTTP, with the kit's ClickHouse module (its session settings, errors, literals).

An execution is sent with ``query_id`` = the execution id (its handle: ``cancel`` and a timeout
run ``KILL QUERY`` on it, from any replica), ``readonly=1`` (nothing written, no setting changed
by the query; a user whose profile is read-only already keeps its own, as the server insists), ``max_execution_time`` with ``timeout_overflow_mode=throw`` (the server stops it)
and ``max_result_rows`` = ``row_limit`` + 1 with ``result_overflow_mode=break``. The server
(18.16 here) has no server-side parameters, so each value becomes a typed literal built by the
kit's ``literal`` (strings escaped, numbers and dates checked), never raw text. The format is
``default_format=JSONCompact``: a query may not carry its own ``FORMAT`` or ``SETTINGS``.

Egress: the session's resolver checks every address of the host before each new connection;
aiohttp then connects to that address (TLS still checks the host name).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import re
import socket
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from lookout_kit.clickhouse import (
    KEEPALIVE_S,
    BindError,
    ClickHouseError,
    ReadRefused,
    literal,
    quote,
    refuse_own_settings,
)

from lookout_datasource.service.connectors.base import (
    BadCredentials,
    Cancelled,
    ClickhouseConfig,
    Column,
    ColumnInfo,
    ConnectionConfig,
    ConnectorError,
    EgressRefused,
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
INT64 = (-(2**63), 2**63 - 1)
_BAD_CREDENTIALS = {192, 193, 194, 516}
_CODES: dict[int, type[ConnectorError]] = {
    81: UnknownDatabase,
    164: ReadOnlyViolation,
    159: QueryTimeout,
    394: Cancelled,
}
_PROFILE_READ_ONLY = "Setting 'readonly' cannot be overrid"
_DISPLAY_TEXT = re.compile(
    r"e\.displayText\(\) = (?:DB::Exception: )?(.*?)(?:, e\.what\(\)|$)", re.S
)


_META = b'\n\t"meta":\n'
_DATA = b'\n\n\t"data":\n\t['
_ROWS = b'\n\t],\n\n\t"rows": '
_FORMATTING = b"\n\t"


def pass_through(content: bytes, row_limit: int) -> tuple[list[Column], bytes, int] | None:
    """A ``JSONCompact`` answer's columns, its rows as the server wrote them (their JSON array,
    without the layout's newlines and tabs) and their count; None when the rows cannot be passed
    on as they are (more than ``row_limit``, text that is not UTF-8, a layout not known here):
    then they are read and encoded again (``results.result``).

    The layout is 18.16's and later's: top-level keys on lines of their own, one tab in, each row
    on a line. A newline or a tab inside a string is escaped (JSON's rule, which the server keeps),
    so the raw ones are the layout's only."""
    meta_at = content.find(_META)
    data_at = content.find(_DATA)
    rows_at = content.rfind(_ROWS)
    if meta_at < 0 or data_at < meta_at or rows_at < data_at:
        return None
    count_end = content.find(b",", rows_at + len(_ROWS))
    try:
        row_count = int(content[rows_at + len(_ROWS) : count_end])
        meta = json.loads(content[meta_at + len(_META) : data_at].rstrip(b","))
        columns = [Column(name=column["name"], type=column["type"]) for column in meta]
    except (ValueError, TypeError, KeyError):
        return None
    if row_count > row_limit:
        return None
    rows = content[data_at + len(_DATA) : rows_at].translate(None, _FORMATTING)
    if not rows.isascii():
        try:
            rows.decode()
        except UnicodeDecodeError:
            return None
    return columns, b"[" + rows + b"]", row_count


class EgressResolver(AbstractResolver):
    """aiohttp's resolver: the host's addresses, each checked by the egress policy."""

    def __init__(self, egress: EgressPolicy) -> None:
        self.egress = egress
        self._read_only_users: set[tuple[str, int, str]] = set()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self.egress.resolve(host, port)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


@dataclass
class ClickhousePool:
    """A source's HTTP session (its keep-alive connections are the pool)."""

    session: aiohttp.ClientSession

    async def close(self) -> None:
        await self.session.close()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _bound(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return literal(value, "Bool")
    if isinstance(value, int):
        return literal(value, "Int64" if INT64[0] <= value <= INT64[1] else "UInt64")
    if isinstance(value, float | Decimal):
        return literal(float(value), "Float64")
    type_name = type(value).__name__
    names = {"str": "String", "date": "Date", "datetime": "DateTime"}
    return literal(value, names.get(type_name, type_name))


def _error(error: BaseException, config: ConnectionConfig) -> ConnectorError:
    secrets = (config.secret(),)
    if isinstance(error, ConnectorError):
        return error
    if isinstance(error, ClickHouseError):
        text = str(error)
        found = _DISPLAY_TEXT.search(text)
        message = (found.group(1) if found else text).split("Stack trace", 1)[0].strip()
        if error.code in _BAD_CREDENTIALS:
            return BadCredentials(f"the server refused the login: {message}", secrets=secrets)
        if error.code is not None and error.code in _CODES:
            return _CODES[error.code](message, secrets=secrets)
        return QueryError(message, secrets=secrets)
    if isinstance(error, BindError | ReadRefused):
        return QueryError(str(error), secrets=secrets)
    if isinstance(error, TimeoutError):
        return QueryTimeout("the server did not answer in time", secrets=secrets)
    if isinstance(error, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError | OSError):
        cause = error.__cause__ or error.__context__
        if isinstance(cause, EgressRefused):
            return cause
        return Unreachable(f"cannot reach {config.host}:{config.port}: {error}", secrets=secrets)
    return QueryError(str(error) or type(error).__name__, secrets=secrets)


class ClickhouseConnector:
    kind = "clickhouse"

    def __init__(self, egress: EgressPolicy) -> None:
        self.egress = egress
        self._read_only_users: set[tuple[str, int, str]] = set()

    def _session(self, max_size: int = 2) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                resolver=EgressResolver(self.egress),
                use_dns_cache=False,
                keepalive_timeout=KEEPALIVE_S,
                limit=max_size,
            )
        )

    async def open_pool(self, config: ConnectionConfig, *, max_size: int) -> SourcePool:
        return ClickhousePool(self._session(max_size))

    async def _post(
        self,
        config: ConnectionConfig,
        pool: SourcePool | None,
        body: str,
        params: dict[str, str],
        *,
        timeout_s: float,
    ) -> bytes:
        """``_send``, without ``readonly=1`` for a user whose profile is read-only already (the
        server refuses to have it set again: its profile's ``readonly`` holds)."""
        user = (config.host, config.port, config.user)
        if user in self._read_only_users:
            params = {name: value for name, value in params.items() if name != "readonly"}
        try:
            return await self._send(config, pool, body, params, timeout_s=timeout_s)
        except ReadOnlyViolation as error:
            if "readonly" not in params or _PROFILE_READ_ONLY not in error.message:
                raise
        self._read_only_users.add(user)
        return await self._post(config, pool, body, params, timeout_s=timeout_s)

    async def _send(
        self,
        config: ConnectionConfig,
        pool: SourcePool | None,
        body: str,
        params: dict[str, str],
        *,
        timeout_s: float,
    ) -> bytes:
        settings = cast(ClickhouseConfig, config)
        if _is_address(settings.host):  # aiohttp asks its resolver about names only
            await self.egress.resolve(settings.host, settings.port)
        scheme = "https" if settings.secure else "http"
        session = cast(ClickhousePool, pool).session if pool is not None else self._session()
        try:
            async with session.post(
                f"{scheme}://{_url_host(settings.host)}:{settings.port}/",
                params={"database": settings.database, **params},
                data=body.encode(),
                headers={"Authorization": _basic_auth(settings.user, settings.secret())},
                timeout=aiohttp.ClientTimeout(
                    total=timeout_s, sock_connect=settings.connect_timeout_s
                ),
                ssl=settings.verify,
            ) as response:
                content = await response.read()
                if response.status != 200:
                    raise ClickHouseError(response.status, content.decode(errors="replace"))
                return content
        except EgressRefused:
            raise
        except Exception as error:
            raise _error(error, config) from None
        finally:
            if pool is None:
                await session.close()

    async def test(self, config: ConnectionConfig) -> ServerInfo:
        started = time.monotonic()
        content = await self._post(
            config, None, "SELECT version()", {"readonly": "1"}, timeout_s=config.connect_timeout_s
        )
        return ServerInfo(
            version=f"ClickHouse {content.decode().strip()}", latency_ms=elapsed_ms(started)
        )

    async def introspect(
        self, config: ConnectionConfig, *, pool: SourcePool | None = None
    ) -> list[ColumnInfo]:
        # In each table's own column order: the server lists them so (18.16 has no `position`
        # to sort by), and a stable sort by table keeps it.
        query = (
            "SELECT database, table, name, type, default_expression FROM system.columns"
            f" WHERE database = {quote(config.database)}"
        )
        params = {"readonly": "1", "default_format": "JSONCompact"}
        content = await self._post(config, pool, query, params, timeout_s=60)
        return [
            ColumnInfo(
                schema_name=row[0],
                table_name=row[1],
                column_name=row[2],
                data_type=row[3],
                is_nullable=row[3].startswith("Nullable("),
                column_default=row[4] or None,
            )
            for row in sorted(json.loads(content)["data"], key=lambda row: str(row[1]))
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
        try:
            refuse_own_settings(sql)
            query = expand(sql, parameters, _bound)
        except (BindError, ReadRefused) as error:
            raise QueryError(str(error)) from None
        params = {
            "query_id": str(execution_id),
            "readonly": "1",
            "max_execution_time": f"{max(timeout_s, 0.001):g}",
            "timeout_overflow_mode": "throw",
            "max_result_rows": str(row_limit + 1),
            "result_overflow_mode": "break",
            "default_format": "JSONCompact",
            "output_format_json_quote_64bit_integers": "0",
        }
        started = time.monotonic()
        try:
            content = await self._post(config, pool, query, params, timeout_s=timeout_s + GRACE_S)
        except QueryTimeout:
            await asyncio.shield(self._kill(config, execution_id))
            raise
        except asyncio.CancelledError:
            await asyncio.shield(self._kill(config, execution_id))
            raise
        if not content.strip():
            return result([], [], row_limit=row_limit, started=started)
        passed = pass_through(content, row_limit)
        if passed is not None:
            columns, rows_json, row_count = passed
            return QueryResult(
                columns=columns,
                rows_json=rows_json,
                row_count=row_count,
                truncated=False,
                bytes=len(rows_json),
                duration_ms=elapsed_ms(started),
            )
        answer = json.loads(content)
        columns = [Column(name=meta["name"], type=meta["type"]) for meta in answer["meta"]]
        return result(columns, answer["data"], row_limit=row_limit, started=started)

    async def _kill(self, config: ConnectionConfig, execution_id: UUID) -> bool:
        content = await self._post(
            config,
            None,
            f"KILL QUERY WHERE query_id = {quote(str(execution_id))} SYNC",
            {},
            timeout_s=10,
        )
        return bool(content.strip())

    async def cancel(self, config: ConnectionConfig, execution_id: UUID) -> bool:
        return await self._kill(config, execution_id)
