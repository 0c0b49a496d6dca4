"""The one ClickHouse client of every service, over HTTP: statements, RowBinary inserts (ingestion's
writer) and reads with bound parameters under limits (``read``: analytics, the datasource connector).

Plain aiohttp rather than aiochclient: inserts need a raw binary body, a ``query_id`` per attempt
(to learn afterwards whether an interrupted INSERT is still running) and precise error handling.

**Bound parameters.** A query names its values ``{name:Type}`` (ClickHouse's own placeholder
syntax); ``bind`` replaces each by a literal of that type, built from the Python value after it
is checked against the type, so a value is never SQL text. The server (18.16 locally) has no
server-side parameters (``param_<name>`` came later), so binding is done here, for both versions.
Types: ``String``, ``UUID``, ``Int8``..``Int64``, ``UInt8``..``UInt64``, ``Float32``/``Float64``,
``Date``, ``DateTime``, ``Bool`` (as ``UInt8``) and ``Array(T)`` of those.

**Reads are limited.** ``read`` sends ``readonly=2`` (no writes, settings allowed),
``max_execution_time`` and ``max_result_rows`` with ``result_overflow_mode=throw``, so a query
that runs too long or returns too much fails with a clear error instead of loading the server
or the service. Production points reads at a read-only ClickHouse user (``lookout_reader`` in the
local stack's users file: readonly=2 in its profile).
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from lookout_kit.settings import ServiceSettings

KEEPALIVE_S = 2.0
"""How long an idle connection is kept for reuse: below the server's ``keep_alive_timeout``
(3 s by default), so a request never goes out on a connection the server has just closed."""


def client_session() -> aiohttp.ClientSession:
    """An HTTP session for ClickHouse clients (see ``KEEPALIVE_S``)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S))


class ClickHouseError(Exception):
    """ClickHouse answered with an error (the statement ran and failed, or was refused)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"clickhouse HTTP {status}: {message[:500]}")
        self.status = status
        found = re.match(r"\s*Code: (\d+)", message)
        self.code = int(found.group(1)) if found else None
        """ClickHouse's error code (e.g. 159: timeout, 396: too many rows), when it gave one."""


class BindError(ValueError):
    """A parameter is missing, unused or not of its placeholder's type."""


class ReadRefused(ValueError):
    """A read carries its own SETTINGS or FORMAT clause (see ``ClickHouse.read``)."""


_QUOTED_OR_COMMENT = re.compile(
    r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`(?:[^`\\]|\\.)*`|--[^\n]*|/\*.*?\*/",
    re.DOTALL,
)
_OWN_CLAUSE = re.compile(r"\b(SETTINGS|FORMAT)\b", re.IGNORECASE)


def refuse_own_settings(query: str) -> None:
    """Raise ``ReadRefused`` when ``query``, outside its strings, identifiers and comments, names
    a ``SETTINGS`` or ``FORMAT`` clause."""
    found = _OWN_CLAUSE.search(_QUOTED_OR_COMMENT.sub(" ", query))
    if found:
        raise ReadRefused(f"a read may not carry its own {found.group(1).upper()} clause")


class ClickHouse:
    """One ClickHouse server and database over HTTP."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        url: str,
        database: str,
        user: str = "default",
        password: str = "",
        timeout_s: float = 30.0,
    ) -> None:
        self._session = session
        self.url = url.rstrip("/") + "/"
        self.database = database
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {credentials}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.inserts_in_flight = 0
        """INSERT requests this client has sent and not yet seen end (a rebalance waits for 0)."""

    @classmethod
    def from_settings(
        cls, session: aiohttp.ClientSession, settings: ServiceSettings, *, timeout_s: float = 30.0
    ) -> ClickHouse:
        """The server and database a service's ``clickhouse_*`` settings name."""
        if settings.clickhouse_url is None:
            raise ValueError("the service's settings name no ClickHouse (clickhouse_url is unset)")
        return cls(
            session,
            url=settings.clickhouse_url,
            user=settings.clickhouse_user,
            password=settings.clickhouse_password,
            database=settings.clickhouse_database,
            timeout_s=timeout_s,
        )

    async def _post(self, params: dict[str, str], body: bytes) -> bytes:
        async with self._session.post(
            self.url,
            params={"database": self.database, **params},
            data=body,
            headers=self._headers,
            timeout=self._timeout,
        ) as response:
            content = await response.read()
            if response.status != 200:
                raise ClickHouseError(response.status, content.decode(errors="replace"))
            return content

    async def read(
        self,
        query: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        max_execution_time_s: float = 10.0,
        max_result_rows: int = 10_000,
    ) -> list[dict[str, Any]]:
        """Run a SELECT with ``parameters`` bound (``{name:Type}``) under the read limits; its rows
        as dicts. A limit exceeded raises ``ClickHouseError`` (``code`` 159: time, 396: rows).

        A query may not carry its own ``SETTINGS`` or ``FORMAT`` clause (``ReadRefused``): under
        ``readonly=2`` its settings would lift the limits, and its format would not be JSON."""
        refuse_own_settings(query)
        settings = {
            "readonly": "2",
            "max_execution_time": str(max(1, math.ceil(max_execution_time_s))),
            "max_result_rows": str(max_result_rows),
            "result_overflow_mode": "throw",
        }
        # On its own line: a query that ends in a -- comment keeps the format.
        body = bind(query, parameters or {}) + "\nFORMAT JSONEachRow"
        content = await self._post(settings, body.encode())
        return [json.loads(line) for line in content.splitlines() if line]

    async def ping(self) -> bool:
        """Whether the server answers (``/readyz``)."""
        try:
            async with self._session.get(
                self.url + "ping", timeout=aiohttp.ClientTimeout(total=2)
            ) as response:
                return response.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    async def execute(self, statement: str) -> None:
        """Run one statement that returns nothing (DDL, small INSERT ... VALUES)."""
        await self._post({}, statement.encode())

    async def rows(self, query: str) -> list[dict[str, Any]]:
        """Run a SELECT; its rows as dicts (JSONEachRow: 64-bit integers come back as strings)."""
        content = await self._post({}, (query + " FORMAT JSONEachRow").encode())
        return [json.loads(line) for line in content.splitlines() if line]

    async def insert_rowbinary(
        self, table: str, columns: tuple[str, ...], body: bytes, *, query_id: str
    ) -> None:
        """``INSERT INTO table (columns) FORMAT RowBinary`` with ``body`` as the rows."""
        query = f"INSERT INTO {table} ({', '.join(columns)}) FORMAT RowBinary"
        self.inserts_in_flight += 1
        try:
            await self._post({"query": query, "query_id": query_id}, body)
        finally:
            self.inserts_in_flight -= 1

    async def is_running(self, query_id: str) -> bool:
        """Whether the query ``query_id`` still runs on the server (it may outlive its client)."""
        found = await self.rows(
            f"SELECT count() AS n FROM system.processes WHERE query_id = {quote(query_id)}"
        )
        return bool(found) and int(found[0]["n"]) > 0

    async def running_query_ids(self, prefix: str) -> set[str]:
        """Ids of the running queries whose id starts with ``prefix`` (LIKE-escaped here)."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        found = await self.rows(
            f"SELECT query_id FROM system.processes WHERE query_id LIKE {quote(pattern)}"
        )
        return {str(row["query_id"]) for row in found}


def quote(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):([A-Za-z0-9_() ]+)\}")
_INT_RANGES = {
    f"{sign}Int{bits}": (
        (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if sign == "" else (0, 2**bits - 1)
    )
    for sign in ("", "U")
    for bits in (8, 16, 32, 64)
}


def literal(value: Any, type_name: str) -> str:
    """``value`` as a ClickHouse literal of ``type_name``, or ``BindError``."""
    type_name = type_name.strip()
    if type_name.startswith("Array(") and type_name.endswith(")"):
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise BindError(f"expected a list for {type_name}")
        inner = type_name[len("Array(") : -1]
        return "[" + ", ".join(literal(item, inner) for item in value) + "]"
    if type_name == "String":
        if not isinstance(value, str):
            raise BindError("expected a string")
        return quote(value)
    if type_name == "UUID":
        try:
            parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except ValueError:
            raise BindError("expected a UUID") from None
        return f"toUUID('{parsed}')"
    if type_name in _INT_RANGES:
        low, high = _INT_RANGES[type_name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BindError(f"expected an integer in {type_name}")
        return str(value)
    if type_name in ("Float32", "Float64"):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise BindError("expected a finite number")
        return repr(float(value))
    if type_name == "Bool":
        if not isinstance(value, bool):
            raise BindError("expected a boolean")
        return "1" if value else "0"
    if type_name == "DateTime":
        if not isinstance(value, datetime):
            raise BindError("expected a datetime")
        moment = value.astimezone(UTC) if value.tzinfo else value
        return f"toDateTime('{moment:%Y-%m-%d %H:%M:%S}', 'UTC')"
    if type_name == "Date":
        if not isinstance(value, date) or isinstance(value, datetime):
            raise BindError("expected a date")
        return f"toDate('{value:%Y-%m-%d}')"
    raise BindError(f"unsupported parameter type {type_name}")


def bind(query: str, parameters: Mapping[str, Any]) -> str:
    """``query`` with each ``{name:Type}`` replaced by ``literal(parameters[name], Type)``; every
    parameter must be used and every placeholder given."""
    used: set[str] = set()

    def replace(found: re.Match[str]) -> str:
        name, type_name = found.group(1), found.group(2)
        if name not in parameters:
            raise BindError(f"no value for parameter {name}")
        used.add(name)
        try:
            return literal(parameters[name], type_name)
        except BindError as error:
            raise BindError(f"parameter {name}: {error}") from None

    bound = _PLACEHOLDER.sub(replace, query)
    unused = set(parameters) - used
    if unused:
        raise BindError(f"parameters not in the query: {', '.join(sorted(unused))}")
    return bound
