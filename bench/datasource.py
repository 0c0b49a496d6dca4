"""``make bench-datasource``: a query's execution through the gateway against the same query run by
the driver directly, in the same run, per connector (PostgreSQL, ClickHouse, MariaDB) for 1 row
and 10,000 rows; and ``GET /dashboards/{id}/data`` for a dashboard of 12 charts (four per
connector) against its floor, the same 12 queries run concurrently by the drivers directly.

The ratio (service median / driver median) is what the service's path costs beyond the database:
HTTP through the gateway, auth, the parameter checks, the execution record, the ``query.executed``
event, the results' JSON. Target (issue 15): the 10,000-row ratio at most 1.5.

The floor of that ratio, in the same run: a bare app (``bench/bare_query.py``: the same query by
the same driver in an ASGI app under uvicorn, its rows as JSON; nothing else) called by the same
client, for PostgreSQL and MariaDB (``*_bare_app_ms``, ``*_bare_app_ratio`` against the driver, and
``*_service_to_bare_ratio``: what the service adds to the least an HTTP answer costs).

The benchmark signs up a tenant of its own through identity, makes a database of its own on each
server with a 10,000-row table, and drops them and deletes the tenant at the end. Each figure is
the median of ``--runs`` runs of ``--calls`` sequential calls; ``/data`` is loaded at ``--rate``
requests/s for ``--duration`` seconds (an open loop), the floor likewise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncmy  # type: ignore[import-untyped]
import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lookout_kit.clickhouse import ClickHouse
from lookout_testing.clickhouse import temporary_clickhouse_database
from lookout_testing.databases import temporary_database
from lookout_testing.mysql import MysqlDatabase, temporary_mysql_database
from lookout_testing.servers import Servers

from bench.accounts import signup
from bench.report import figure, median, percentile, write

REPO = Path(__file__).resolve().parent.parent
GATEWAY = "http://127.0.0.1:8080"
IDENTITY = "http://127.0.0.1:8101"  # sign-up straight to identity (see bench/identity.py)
ROWS = 10_000
SIZES = (1, ROWS)
SELECT = "SELECT id, name, amount, created FROM sales ORDER BY id LIMIT {{ n }}"
CHARTS_PER_KIND = 4
DATA_QUERY = (
    "SELECT id, name, amount, created FROM sales WHERE id > {{ since }} ORDER BY id LIMIT 50"
)

Direct = Callable[[int], Awaitable[int]]
"""Run the benchmark's query for ``n`` rows with the driver itself; how many rows came back."""


async def postgresql(dsn: str, stack: AsyncExitStack) -> tuple[dict[str, Any], Direct, Direct]:
    conn = await asyncpg.connect(dsn)
    stack.push_async_callback(conn.close)
    await conn.execute(
        "CREATE TABLE sales (id integer PRIMARY KEY, name text, amount float8, created date)"
    )
    await conn.execute(
        "INSERT INTO sales SELECT n, 'customer ' || n, n * 1.25, DATE '2026-01-01' + n % 365"
        f" FROM generate_series(1, {ROWS}) AS n"
    )
    await conn.execute("ANALYZE sales")
    pool = await asyncpg.create_pool(dsn, min_size=4, max_size=4)
    stack.push_async_callback(pool.close)

    async def run(n: int) -> int:
        async with pool.acquire() as c, c.transaction(readonly=True):
            rows = await c.fetch(
                "SELECT id, name, amount, created FROM sales ORDER BY id LIMIT $1", n
            )
        return len(rows)

    async def since(after: int) -> int:
        async with pool.acquire() as c:
            rows = await c.fetch(
                "SELECT id, name, amount, created FROM sales WHERE id > $1 ORDER BY id LIMIT 50",
                after,
            )
        return len(rows)

    config = {
        "host": "127.0.0.1",
        "port": 5432,
        "database": dsn.rsplit("/", 1)[1],
        "user": "postgres",
        "password": "unused-trust-auth",
    }
    return config, run, since


async def clickhouse(
    client: ClickHouse, stack: AsyncExitStack
) -> tuple[dict[str, Any], Direct, Direct]:
    await client.execute(
        "CREATE TABLE sales (id UInt32, name String, amount Float64, created Date)"
        " ENGINE = MergeTree ORDER BY id"
    )
    await client.execute(
        "INSERT INTO sales SELECT number + 1, concat('customer ', toString(number + 1)),"
        f" (number + 1) * 1.25, toDate('2026-01-01') + (number + 1) % 365 FROM numbers({ROWS})"
    )
    session = aiohttp.ClientSession()
    stack.push_async_callback(session.close)
    url = client.url

    async def query(sql: str) -> int:
        async with session.post(
            url,
            params={"database": client.database, "readonly": "1"},
            data=(sql + " FORMAT JSONCompact").encode(),
        ) as response:
            body = await response.read()
        return len(json.loads(body)["data"])

    async def run(n: int) -> int:
        return await query(f"SELECT id, name, amount, created FROM sales ORDER BY id LIMIT {n}")

    async def since(after: int) -> int:
        return await query(
            f"SELECT id, name, amount, created FROM sales WHERE id > {after} ORDER BY id LIMIT 50"
        )

    config = {"host": "127.0.0.1", "port": 8123, "database": client.database, "user": "default"}
    return config, run, since


async def mysql(
    database: MysqlDatabase, stack: AsyncExitStack
) -> tuple[dict[str, Any], Direct, Direct]:
    pool = await asyncmy.create_pool(
        host=database.host,
        port=database.port,
        user=database.user,
        password=database.password,
        db=database.database,
        minsize=4,
        maxsize=4,
        autocommit=True,
    )

    async def close() -> None:
        pool.close()
        await pool.wait_closed()

    stack.push_async_callback(close)
    async with pool.acquire() as conn, conn.cursor() as cursor:
        await cursor.execute(
            "CREATE TABLE sales (id INT PRIMARY KEY, name VARCHAR(64), amount DOUBLE, created DATE)"
        )
        await cursor.execute(
            "INSERT INTO sales SELECT seq, CONCAT('customer ', seq), seq * 1.25,"
            f" DATE_ADD('2026-01-01', INTERVAL seq % 365 DAY) FROM seq_1_to_{ROWS}"
        )

    async def fetch(sql: str, value: int) -> int:
        async with pool.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute(sql, (value,))
            rows = await cursor.fetchall()
        return len(rows)

    async def run(n: int) -> int:
        return await fetch("SELECT id, name, amount, created FROM sales ORDER BY id LIMIT %s", n)

    async def since(after: int) -> int:
        return await fetch(
            "SELECT id, name, amount, created FROM sales WHERE id > %s ORDER BY id LIMIT 50", after
        )

    config = {
        "host": database.host,
        "port": database.port,
        "database": database.database,
        "user": database.user,
        "password": database.password,
    }
    return config, run, since


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


async def post(
    session: aiohttp.ClientSession,
    url: str,
    payload: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Answer:
    async with session.post(url, json=payload, headers=headers) as response:
        return Answer(response.status, await response.read())


async def bare_app(kind: str, dsn: str, stack: AsyncExitStack) -> str:
    """``bench/bare_query.py`` for ``kind`` under uvicorn on a free port, stopped with ``stack``;
    its base URL once it accepts connections."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "bench.bare_query:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        cwd=REPO,
        env={**os.environ, "BARE_KIND": kind, "BARE_DSN": dsn},
    )

    async def stop() -> None:
        if process.returncode is None:
            process.terminate()
            await process.wait()

    stack.push_async_callback(stop)
    for _ in range(200):
        if process.returncode is not None:
            raise RuntimeError(f"the bare {kind} app exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return f"http://127.0.0.1:{port}"
    raise RuntimeError(f"the bare {kind} app did not start")


async def timed(
    calls: int, call: Callable[[], Awaitable[Any]], check: Callable[[Any], None] | None = None
) -> float:
    """The median latency (ms) of ``calls`` sequential calls; ``check`` looks at each answer after
    its time is taken (a client's parsing of the answer is not the service's time)."""
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        answer = await call()
        latencies.append((time.perf_counter() - started) * 1000)
        if check is not None:
            check(answer)
    return statistics.median(latencies)


async def open_loop(
    rate: float, duration_s: float, call: Callable[[], Awaitable[Any]]
) -> list[float]:
    latencies: list[float] = []

    async def one() -> None:
        started = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - started) * 1000)

    begin = time.perf_counter()
    tasks = []
    for n in range(int(rate * duration_s)):
        delay = begin + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=duration_s + 60)
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    servers = Servers.from_environment()

    async with AsyncExitStack() as stack:
        async with httpx.AsyncClient(base_url=IDENTITY, timeout=30) as client:
            account = await signup(client, prefix="benchds")
        headers = {"Authorization": f"Bearer {account['token']}"}
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=GATEWAY, timeout=60, headers=headers)
        )

        async def delete_tenant() -> None:
            await http.delete(f"/api/identity/tenants/{account['tenant_id']}")

        stack.push_async_callback(delete_tenant)
        dsn = await stack.enter_async_context(
            temporary_database(servers.postgres, prefix="benchds")
        )
        ch = await stack.enter_async_context(temporary_clickhouse_database(servers.clickhouse))
        my = await stack.enter_async_context(
            temporary_mysql_database(servers.mysql, prefix="benchds")
        )
        kinds = {
            "postgresql": await postgresql(dsn, stack),
            "clickhouse": await clickhouse(ch, stack),
            "mysql": await mysql(my, stack),
        }
        bare_urls = {
            "postgresql": await bare_app("postgresql", dsn, stack),
            "mysql": await bare_app(
                "mysql",
                f"mysql://{quote(my.user, safe='')}:{quote(my.password, safe='')}"
                f"@{my.host}:{my.port}/{my.database}",
                stack,
            ),
        }
        # The timed calls' client: aiohttp (httpx's own reading of a 10,000-row answer costs
        # ~3 ms more, measured against the bare app: a client's cost, not the service's).
        timed_http = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        )

        async def through_bare_app(kind: str, n: int) -> Answer:
            """The same client, the bare app's answer (its body read, not parsed)."""
            return await post(timed_http, bare_urls[kind], {"n": n})

        sources: dict[str, str] = {}
        for kind, (config, _, _) in kinds.items():
            created = await http.post(
                "/api/datasource/data-sources",
                json={"name": f"bench {kind}", "type": kind, "connection_config": config},
            )
            created.raise_for_status()
            sources[kind] = created.json()["id"]

        async def through_service(kind: str, n: int) -> Answer:
            """The whole answer received (its body read, not parsed)."""
            return await post(
                timed_http,
                f"{GATEWAY}/api/datasource/data-sources/{sources[kind]}/execute",
                {
                    "query_text": SELECT,
                    "parameters": [{"name": "n", "type": "number", "required": True}],
                    "values": {"n": n},
                    "row_limit": ROWS,
                },
                headers,
            )

        def rows_of(n: int) -> Callable[[Answer], None]:
            def check(answer: Answer) -> None:
                assert answer.status == 200, answer.body[:300]
                assert json.loads(answer.body)["row_count"] == n, answer.body[:200]

            return check

        figures: dict[str, dict[str, Any]] = {}
        for kind, (_, direct, _) in kinds.items():
            for n in SIZES:
                assert await direct(n) == n
                rows_of(n)(await through_service(kind, n))  # warm: pools opened, code paths taken
                bare = kind in bare_urls
                if bare:
                    rows_of(n)(await through_bare_app(kind, n))
                services, drivers, bares = [], [], []
                for _ in range(args.runs):
                    services.append(
                        await timed(
                            args.calls,
                            lambda k=kind, m=n: through_service(k, m),
                            rows_of(n),
                        )
                    )
                    drivers.append(await timed(args.calls, lambda d=direct, m=n: d(m)))
                    if bare:
                        bares.append(
                            await timed(
                                args.calls,
                                lambda k=kind, m=n: through_bare_app(k, m),
                                rows_of(n),
                            )
                        )
                service_ms, driver_ms = median(services), median(drivers)
                label = f"{kind}_{'1_row' if n == 1 else '10k_rows'}"
                figures[f"{label}_service_ms"] = figure(service_ms, "ms", "lower")
                figures[f"{label}_driver_ms"] = figure(driver_ms, "ms", "lower")
                figures[f"{label}_ratio"] = figure(
                    service_ms / driver_ms, "ratio", "lower", 1.5 if n == ROWS else None
                )
                shown = ""
                if bare:
                    bare_ms = median(bares)
                    figures[f"{label}_bare_app_ms"] = figure(bare_ms, "ms", "lower")
                    figures[f"{label}_bare_app_ratio"] = figure(
                        bare_ms / driver_ms, "ratio", "lower"
                    )
                    figures[f"{label}_service_to_bare_ratio"] = figure(
                        service_ms / bare_ms, "ratio", "lower"
                    )
                    shown = f"; bare app {bare_ms:.1f} ms, ratio {bare_ms / driver_ms:.2f}"
                print(
                    f"{kind} {n} rows: service {service_ms:.1f} ms, driver {driver_ms:.1f} ms,"
                    f" ratio {service_ms / driver_ms:.2f}{shown}"
                )

        # /data: a dashboard of 12 charts, four per connector, each a saved query with a filter.
        components, items = [], []
        for row, kind in enumerate(kinds):
            for index in range(CHARTS_PER_KIND):
                saved = await http.post(
                    "/api/datasource/saved-queries",
                    json={
                        "name": f"bench {kind} {index}",
                        "query_text": DATA_QUERY,
                        "data_source_id": sources[kind],
                        "parameters": [{"name": "since", "type": "number", "default": 0}],
                    },
                )
                saved.raise_for_status()
                chart = f"{kind}-{index}"
                components.append(
                    {
                        "id": chart,
                        "type": "chart",
                        "saved_query_id": saved.json()["id"],
                        "parameter_bindings": {"since": "since"},
                    }
                )
                items.append({"component_id": chart, "x": 6 * index, "y": 4 * row, "w": 6, "h": 4})
        dashboard = await http.post(
            "/api/dashboard/dashboards",
            json={
                "name": "bench twelve charts",
                "components": components,
                "layout": {"items": items},
                "filters": [
                    {"id": "since", "type": "number", "label": "After id", "parameter": "since"}
                ],
            },
        )
        dashboard.raise_for_status()
        data_url = f"/api/dashboard/dashboards/{dashboard.json()['id']}/data"

        async def data() -> None:
            response = await http.get(data_url, params={"since": str(int(time.time()) % 9000)})
            response.raise_for_status()
            answered = response.json()["components"]
            assert len(answered) == 12 and all(c["ok"] for c in answered), answered

        async def data_floor() -> None:
            after = int(time.time()) % 9000
            await asyncio.gather(
                *(since(after) for _, _, since in kinds.values() for _ in range(CHARTS_PER_KIND))
            )

        await data()
        await data_floor()
        p50s, p99s, floor_p50s, floor_p99s = [], [], [], []
        for _ in range(args.runs):
            served = await open_loop(args.rate, args.duration, data)
            floored = await open_loop(args.rate, args.duration, data_floor)
            p50s.append(percentile(served, 50))
            p99s.append(percentile(served, 99))
            floor_p50s.append(percentile(floored, 50))
            floor_p99s.append(percentile(floored, 99))
            print(
                f"/data: p50 {p50s[-1]:.1f} p99 {p99s[-1]:.1f} ms;"
                f" floor p50 {floor_p50s[-1]:.1f} p99 {floor_p99s[-1]:.1f} ms"
            )
        figures["data_12_charts_p50_ms"] = figure(median(p50s), "ms", "lower")
        figures["data_12_charts_p99_ms"] = figure(median(p99s), "ms", "lower")
        figures["data_floor_p50_ms"] = figure(median(floor_p50s), "ms", "lower")
        figures["data_floor_p99_ms"] = figure(median(floor_p99s), "ms", "lower")
        figures["data_p50_floor_ratio"] = figure(
            median(p50s) / median(floor_p50s), "ratio", "lower"
        )

    write(
        "datasource",
        {
            "rows": ROWS,
            "calls_per_run": args.calls,
            "runs": args.runs,
            "service_path": "client (aiohttp) → nginx gateway → datasource (ad hoc execute, JSON"
            " result)",
            "driver": "asyncpg / ClickHouse HTTP (JSONCompact) / asyncmy, same query, same client process",
            "data_rate_per_s": args.rate,
            "data_duration_s": args.duration,
            "data_floor": "the 12 queries run concurrently by the drivers directly",
            "bare_app": "bench/bare_query.py under uvicorn, called directly by the same client:"
            " the driver's rows as JSON, nothing else",
        },
        figures,
    )


if __name__ == "__main__":
    asyncio.run(main())
