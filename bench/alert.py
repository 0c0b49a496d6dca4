"""``make bench-alert``: evaluations per minute of two alert-service replicas (real processes,
``lookout-serve alert``) over 500 alerts on a trivial saved query, every second, for 60 s — and,
from the same run, whether every alert was evaluated at most once per due time and notified once.

The benchmark signs up a tenant of its own through the stack's identity, makes a PostgreSQL data
source and 50 saved queries (``SELECT <n> AS value``; a scheduler round runs a tenant's same query
once for all its due alerts) through the stack's datasource service, starts two
alert replicas of its own on a database of its own (the stack's ``alert-0`` is not touched), makes
the alerts through one of them (each triggers once: 1 > 0, a webhook to a receiver in this process),
then counts ``alerts.evaluations`` over the window. Target (issue 16): 10,000 per minute.

The floor, in the same run: the same number of due items in a table of the same lease columns,
claimed by as many loops as replicas with the kit's ``claim_due`` (the scheduler's batch size),
each distinct query of a batch run once with asyncpg straight on PostgreSQL, and the batch
completed due again a second later — what an evaluation costs the database without the alert
service, the datasource service and HTTP between them. The ratio is service / floor. Both are bounded by the schedule
(500 alerts due once a second: 30,000 a minute); a floor at that bound says the database path
keeps up with every due evaluation, and the ratio is then the share of them the service ran.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lookout_kit.lease import claim_due, complete
from lookout_testing.broker import free_port

from bench.accounts import signup
from bench.report import figure, write

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = "http://127.0.0.1:8080"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
SECRET = "bench-webhook-secret-" + uuid.uuid4().hex


async def receiver(received: Counter[str]) -> tuple[web.AppRunner, str]:
    async def hook(request: web.Request) -> web.Response:
        received[(await request.json())["alert"]["id"]] += 1
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/hook"


def replica(database: str, port: int, tag: str, batch: int) -> subprocess.Popen[bytes]:
    secret = json.loads((ROOT / ".data" / "service_secrets.json").read_text())["alert"]
    env = {
        **os.environ,
        "LOOKOUT_ALERT_DATABASE_URL": database,
        "LOOKOUT_ALERT_PORT": str(port),
        "LOOKOUT_ALERT_SERVICE_SECRET": secret,
        "LOOKOUT_ALERT_MIN_INTERVAL_S": "1",
        "LOOKOUT_ALERT_EGRESS_ALLOW_LOOPBACK": "true",  # the receiver is in this process
        "LOOKOUT_ALERT_SCHEDULER_BATCH": str(batch),
        "LOOKOUT_ALERT_IDENTITY_CONSUMER_GROUP": f"bench-alert-{tag}",
        "LOOKOUT_ALERT_DATASOURCE_CONSUMER_GROUP": f"bench-alert-ds-{tag}",
        "LOOKOUT_ALERT_LOG_LEVEL": "WARNING",
    }
    log = open(f"/tmp/bench-alert-{tag}-{port}.log", "wb")
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "lookout-serve"), "alert"], env=env, stdout=log, stderr=log
    )


async def ready(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


async def evaluations(database: str) -> tuple[int, list[int]]:
    connection = await asyncpg.connect(database)
    try:
        rows = await connection.fetch("SELECT evaluations FROM alerts")
    finally:
        await connection.close()
    counts = [row["evaluations"] for row in rows]
    return sum(counts), counts


FLOOR_TABLE = "bench_floor_items"


async def floor(
    database: str, *, items: int, queries: int, loops: int, batch: int, seconds: float
) -> float:
    """Evaluations per minute of the floor (module docstring): leased, queried, completed."""
    pool = await asyncpg.create_pool(database, min_size=loops, max_size=loops)
    assert pool is not None
    try:
        await pool.execute(
            f"CREATE TABLE {FLOOR_TABLE} (id integer PRIMARY KEY, query integer NOT NULL,"
            " next_run_at timestamptz, leased_until timestamptz, leased_by text)"
        )
        await pool.execute(
            f"INSERT INTO {FLOOR_TABLE} (id, query, next_run_at)"
            " SELECT n, 1 + n % $2, now() FROM generate_series(1, $1) AS n",
            items,
            queries,
        )
        done = 0
        deadline = time.monotonic() + seconds

        async def loop(owner: str) -> None:
            nonlocal done
            while time.monotonic() < deadline:
                async with pool.acquire() as conn:
                    rows = await claim_due(conn, FLOOR_TABLE, limit=batch, lease_s=30, owner=owner)
                    for query in {row["query"] for row in rows}:
                        await conn.fetchval(f"SELECT {int(query)} AS value")
                    if rows:
                        await complete(
                            conn,
                            FLOOR_TABLE,
                            [row["id"] for row in rows],
                            owner=owner,
                            next_run=timedelta(seconds=1),
                        )
                done += len(rows)
                if not rows:
                    await asyncio.sleep(0.01)

        started = time.monotonic()
        await asyncio.gather(*(loop(f"floor-{n}") for n in range(loops)))
        return done / (time.monotonic() - started) * 60
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument(
        "--queries", type=int, default=50, help="distinct saved queries the alerts share"
    )
    parser.add_argument("--floor-seconds", type=float, default=20.0)
    args = parser.parse_args()

    load_at_start = os.getloadavg()[0]  # the machine is shared: say how busy it was
    tag = uuid.uuid4().hex[:8]
    name = f"lookout_alert_bench_{tag}"
    admin = await asyncpg.connect(f"{POSTGRES}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    database = f"{POSTGRES}/{name}"
    received: Counter[str] = Counter()
    runner, hook_url = await receiver(received)
    ports = [free_port() for _ in range(args.replicas)]
    processes = [replica(database, port, tag, args.batch) for port in ports]
    try:
        for port in ports:
            await ready(f"http://127.0.0.1:{port}")
        async with httpx.AsyncClient(base_url=f"{GATEWAY}/api/identity", timeout=30) as identity:
            account = await signup(identity, "alertbench")
        headers = {"Authorization": f"Bearer {account['token']}"}
        async with httpx.AsyncClient(base_url=GATEWAY, timeout=30, headers=headers) as http:
            source = await http.post(
                "/api/datasource/data-sources",
                json={
                    "name": "bench",
                    "type": "postgresql",
                    "connection_config": {
                        "host": "127.0.0.1",
                        "port": 5432,
                        "database": "postgres",
                        "user": "postgres",
                        "password": "unused",
                        "ssl_mode": "disable",
                    },
                },
            )
            source.raise_for_status()
            queries = []
            for number in range(1, args.queries + 1):
                query = await http.post(
                    "/api/datasource/saved-queries",
                    json={
                        "name": f"value {number}",
                        "query_text": f"SELECT {number} AS value",
                        "data_source_id": source.json()["id"],
                    },
                )
                query.raise_for_status()
                queries.append(query.json()["id"])
        body: dict[str, Any] = {
            "name": "bench",
            "condition_config": {
                "value": {"kind": "column", "column": "value"},
                "threshold": {"op": ">", "value": 0},
            },
            "notification_config": {
                "channels": [{"kind": "webhook", "url": hook_url, "secret": SECRET}]
            },
            "schedule": {"kind": "interval", "seconds": 1},
        }
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{ports[0]}", timeout=60, headers=headers
        ) as http:
            limit = asyncio.Semaphore(8)

            async def create(number: int) -> None:
                async with limit:
                    alert = {**body, "query_id": queries[number % len(queries)]}
                    (await http.post("/alerts", json=alert)).raise_for_status()

            created = time.monotonic()
            await asyncio.gather(*(create(number) for number in range(args.alerts)))
        await asyncio.sleep(3)  # every alert's first (triggering) evaluation is behind us
        before, _ = await evaluations(database)
        started = time.monotonic()
        await asyncio.sleep(args.seconds)
        after, counts = await evaluations(database)
        elapsed = time.monotonic() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        await runner.cleanup()
    per_minute = (after - before) / elapsed * 60
    # Due once a second since it was made (the first at once): more is an evaluation run twice.
    due = int(time.monotonic() - created) + 2
    too_often = sum(1 for count in counts if count > due)
    notified_twice = sum(1 for count in received.values() if count > 1)
    floor_per_minute = await floor(
        database,
        items=args.alerts,
        queries=args.queries,
        loops=args.replicas,
        batch=args.batch,
        seconds=args.floor_seconds,
    )
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()
    print(
        f"floor: {floor_per_minute:.0f} evaluations/min; service/floor {per_minute / floor_per_minute:.3f}"
    )
    print(
        f"{after - before} evaluations in {elapsed:.1f} s; most for one alert {max(counts)} "
        f"(due at most {due}); "
        f"{len(received)} alerts notified, {notified_twice} twice"
    )
    write(
        "alert",
        {
            "alerts": args.alerts,
            "interval_s": 1,
            "seconds": args.seconds,
            "replicas": args.replicas,
            "scheduler_batch": args.batch,
            "saved_queries": args.queries,
            "load_average_1m_at_start": round(load_at_start, 2),
            "query": "SELECT <n> AS value (PostgreSQL, through the datasource service)",
            "floor": "claim_due + the batch's distinct queries by asyncpg + complete, same items",
            "floor_seconds": args.floor_seconds,
        },
        {
            "evaluations_per_minute": figure(per_minute, "evaluations/min", "higher", 10_000),
            "floor_evaluations_per_minute": figure(floor_per_minute, "evaluations/min", "higher"),
            "service_to_floor_ratio": figure(per_minute / floor_per_minute, "ratio", "higher"),
            "alerts_notified_twice": figure(notified_twice, "alerts", "lower", 0),
            "alerts_evaluated_more_than_due": figure(too_often, "alerts", "lower", 0),
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
