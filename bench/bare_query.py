"""The floor of ``make bench-datasource``: the least an HTTP service can do to answer a query.

A bare ASGI app (no framework, no auth, no record, no event, no gateway), run by uvicorn like the
services: ``POST /`` with ``{"n": N}`` runs the benchmark's query for N rows with the driver in a
read-only transaction (PostgreSQL) or autocommit (MariaDB), as the bench's direct call does, and
answers the rows as JSON (msgspec, the service's encoder) in the service's shape. Whatever the
service costs beyond this app is its own; what this app costs beyond the driver is HTTP and JSON.

    BARE_KIND=postgresql BARE_DSN=postgresql://... uvicorn bench.bare_query:app --port P
    BARE_KIND=mysql BARE_DSN=mysql://user:password@host:port/database uvicorn ...
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncmy  # type: ignore[import-untyped]
import asyncpg
import msgspec

COLUMNS = ["id", "name", "amount", "created"]
_PG_SELECT = "SELECT id, name, amount, created FROM sales ORDER BY id LIMIT $1"
_MY_SELECT = "SELECT id, name, amount, created FROM sales ORDER BY id LIMIT %s"
_encode = msgspec.json.Encoder().encode

Fetch = Callable[[int], Awaitable[list[Any]]]


async def _postgresql(dsn: str) -> tuple[Fetch, Callable[[], Awaitable[None]]]:
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=4)

    async def fetch(n: int) -> list[Any]:
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            return [tuple(row) for row in await conn.fetch(_PG_SELECT, n)]

    return fetch, pool.close


async def _mysql(dsn: str) -> tuple[Fetch, Callable[[], Awaitable[None]]]:
    url = urlsplit(dsn)
    pool = await asyncmy.create_pool(
        host=url.hostname,
        port=url.port or 3306,
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        db=url.path.lstrip("/"),
        minsize=2,
        maxsize=4,
        autocommit=True,
    )

    async def fetch(n: int) -> list[Any]:
        async with pool.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute(_MY_SELECT, (n,))
            return list(await cursor.fetchall())

    async def close() -> None:
        pool.close()
        await pool.wait_closed()

    return fetch, close


_state: dict[str, Any] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                opener = _postgresql if os.environ["BARE_KIND"] == "postgresql" else _mysql
                _state["fetch"], _state["close"] = await opener(os.environ["BARE_DSN"])
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await _state["close"]()
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    rows = await _state["fetch"](msgspec.json.decode(body)["n"])
    answer = _encode(
        {"columns": [{"name": name} for name in COLUMNS], "rows": rows, "row_count": len(rows)}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": answer})
