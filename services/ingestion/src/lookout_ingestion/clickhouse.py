"""The ingestion service's ClickHouse HTTP client: statements, small queries, RowBinary inserts.

Plain aiohttp rather than aiochclient: inserts need a raw binary body, a ``query_id`` per attempt
(to learn afterwards whether an interrupted INSERT is still running) and precise error handling.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp

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
