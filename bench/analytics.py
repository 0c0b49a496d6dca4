"""``make bench-analytics``: every analytics report's p50/p95 over a 30-day range at 10,000,000 rows
per table across 100 tenants, through the gateway with a real token, beside its floor: the same SQL
sent straight to ClickHouse's HTTP interface (as the same read-only user, same settings), in the
same run. Target (issue 17): p95 at most 300 ms.

The data: a tenant signed up through identity is the heaviest of the 100 (Zipf sizes: about 19% of
the rows; the worst case), seeded with 99 generated tenants straight into ClickHouse by
``bench/analytics_seed.py`` (ingestion's encoder, the kit's writer). Loading takes minutes, so the
data stays for the next run: a marker (``lookout_bench.analytics_seed``: the parameters, the
tenants, the generator's end, the rows per table) says what is loaded; a run reuses it when its
parameters match, its user still logs in and its tenants' rows are all there; otherwise the
marker's rows (its tenants only) are deleted and the data loaded again. ``--clean`` removes the
bench's rows, its identity tenant and the marker, and loads nothing.

The range is the generator's last 30 days (from its end), so reused data gives the same slice.
Each report: one warm call, then ``--runs`` runs of ``--calls`` sequential calls, the service and
the floor alternating by run; the medians of the runs' p50 and p95 are reported, and the ratio of
the service's p50 to the floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lookout_analytics.schemas import ReportWindow
from lookout_analytics.service import dashboards, queries, users
from lookout_kit.auth.caller import Caller, Permission
from lookout_kit.clickhouse import ClickHouse, client_session, quote
from lookout_testing.servers import Servers

from bench.accounts import PASSWORD, signup
from bench.analytics_seed import SEED_TOPIC, into_clickhouse
from bench.analytics_usage import Generator
from bench.report import figure, median, percentile, write

GATEWAY = "http://127.0.0.1:8080"
IDENTITY = "http://127.0.0.1:8101"  # sign-up and login straight to identity (see bench/identity.py)
TABLES = ("dashboard_events", "query_metrics", "user_activity")
ROLLUPS = ("query_metrics_hourly", "query_metrics_users_hourly")
MARKER = "lookout_bench.analytics_seed"
READER = "lookout_reader"
TARGET_P95_MS = 300.0
DAYS = 60
RANGE_DAYS = 30

ServiceCall = Callable[[ClickHouse, Caller, ReportWindow], Awaitable[Any]]


def reports(user: uuid.UUID) -> dict[str, tuple[str, dict[str, Any], ServiceCall]]:
    """Each report: its path under /api/analytics, its own parameters, the same report in-process
    (to capture the SQL it sends)."""
    return {
        "views": ("/reports/dashboards/views", {}, lambda c, a, w: dashboards.views(c, a, w, None)),
        "top": (
            "/reports/dashboards/top",
            {"by": "views", "limit": 10},
            lambda c, a, w: dashboards.top(c, a, w, "views", 10),
        ),
        "event_mix": ("/reports/dashboards/event-mix", {}, dashboards.event_mix),
        "unopened": (
            "/reports/dashboards/unopened",
            {"limit": 100},
            lambda c, a, w: dashboards.unopened(c, a, w, 100),
        ),
        "by_data_source": (
            "/reports/queries/by-data-source",
            {"limit": 100},
            lambda c, a, w: queries.by_data_source(c, a, w, 100),
        ),
        "by_query": (
            "/reports/queries/by-query",
            {"limit": 100},
            lambda c, a, w: queries.by_query(c, a, w, 100),
        ),
        "latency": ("/reports/queries/latency", {}, queries.latency),
        "slowest": (
            "/reports/queries/slowest",
            {"limit": 20},
            lambda c, a, w: queries.slowest(c, a, w, 20),
        ),
        "cost_by_user": (
            "/reports/queries/cost-by-user",
            {"limit": 100},
            lambda c, a, w: queries.cost_by_user(c, a, w, 100),
        ),
        "active_users": ("/reports/users/active", {}, users.active),
        "sessions": ("/reports/users/sessions", {}, users.sessions),
        "by_resource_type": ("/reports/users/by-resource-type", {}, users.by_resource_type),
        "timeline": (
            f"/reports/users/{user}/timeline",
            {"limit": 1000},
            lambda c, a, w: users.timeline(c, a, w, user, 1000),
        ),
    }


class Recording(ClickHouse):
    """The kit's client that keeps each request it sends (its settings and SQL) for the floor."""

    sent: list[tuple[dict[str, str], bytes]]

    async def _post(self, params: dict[str, str], body: bytes) -> bytes:
        self.sent.append((params, body))
        return await super()._post(params, body)


async def loaded(ch: ClickHouse, key: str) -> dict[str, Any] | None:
    await ch.execute("CREATE DATABASE IF NOT EXISTS lookout_bench")
    await ch.execute(
        f"CREATE TABLE IF NOT EXISTS {MARKER} (key String, marker String,"
        " loaded_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY key"
    )
    found = await ch.rows(f"SELECT key, marker FROM {MARKER} ORDER BY loaded_at DESC LIMIT 1")
    if not found:
        return None
    marker: dict[str, Any] = json.loads(found[0]["marker"])
    marker["matches"] = found[0]["key"] == key
    return marker


async def counts(ch: ClickHouse, tenants: list[str]) -> dict[str, int]:
    """The seeded rows of ``tenants`` per table (not those the stack's pipeline adds: logins)."""
    within = ", ".join(f"toUUID({quote(t)})" for t in tenants)
    result = {}
    for table in TABLES:
        rows = await ch.rows(
            f"SELECT count() AS n FROM {table} WHERE tenant_id IN ({within})"
            f" AND _topic = {quote(SEED_TOPIC)}"
        )
        result[table] = int(rows[0]["n"])
    return result


async def login(username: str) -> str | None:
    """A fresh token of the bench's user; None when it no longer logs in. "From" an address of the
    bench's own (identity trusts X-Forwarded-For from 127.0.0.1): failed logins of other work on
    127.0.0.1 may have throttled that address."""
    address = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
    async with httpx.AsyncClient(
        base_url=IDENTITY, timeout=30, headers={"X-Forwarded-For": address}
    ) as client:
        response = await client.post("/auth/login", json={"login": username, "password": PASSWORD})
    return str(response.json()["access_token"]) if response.status_code == 200 else None


async def forget(ch: ClickHouse, marker: dict[str, Any]) -> None:
    """Remove what ``marker`` loaded: its tenants' rows (theirs only: in the tables and the
    rollups), its identity tenant."""
    within = ", ".join(f"toUUID({quote(t)})" for t in marker["tenants"])
    for table in TABLES + ROLLUPS:
        await ch.execute(f"ALTER TABLE {table} DELETE WHERE tenant_id IN ({within})")
    token = await login(marker["username"])
    if token is not None:
        async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as http:
            await http.delete(
                f"/api/identity/tenants/{marker['tenants'][0]}",
                headers={"Authorization": f"Bearer {token}"},
            )
    await ch.execute(f"TRUNCATE TABLE {MARKER}")


async def prepare(ch: ClickHouse, rows: int, tenants: int, reload: bool) -> dict[str, Any]:
    """The loaded data's marker and a token of its real tenant, loading it if needed."""
    key = f"rows={rows};tenants={tenants};days={DAYS};generator=2"
    marker = await loaded(ch, key)
    if marker is not None and marker["matches"] and not reload:
        token = await login(marker["username"])
        if token is not None and await counts(ch, marker["tenants"]) == marker["counts"]:
            print(f"reusing the loaded data ({marker['counts']})")
            return {**marker, "token": token, "reused": True}
    if marker is not None:
        print("the marker's data is stale: removing it")
        await forget(ch, marker)
    async with httpx.AsyncClient(base_url=IDENTITY, timeout=30) as client:
        account = await signup(client, prefix="benchan")
    real = uuid.UUID(account["tenant_id"])
    generator = Generator(tenants, seed=real.int % 2**32, days=DAYS, tenant_ids=(real,))
    print(f"loading {rows:,} rows per table over {tenants} tenants (minutes)")
    started = time.perf_counter()
    stored = await into_clickhouse(ch, generator.plans(rows))
    load_s = time.perf_counter() - started
    print(f"loaded {stored} in {load_s:.0f} s")
    marker = {
        "tenants": [str(t.id) for t in generator.tenants],
        "username": account["username"],
        "end": generator.end,
        "counts": stored,
        "load_s": round(load_s, 1),
    }
    await ch.execute(
        f"INSERT INTO {MARKER} (key, marker) VALUES ({quote(key)}, {quote(json.dumps(marker))})"
    )
    return {**marker, "token": account["token"], "reused": False}


async def timed(calls: int, call: Callable[[], Awaitable[bool]]) -> tuple[float, float]:
    """p50 and p95 (ms) of ``calls`` sequential answered calls. A call that says the service was
    not there (the gateway's 502/503 while another's work restarts it on the shared machine) is
    not counted: it is made again after a second, at most 120 times."""
    latencies: list[float] = []
    missed = 0
    while len(latencies) < calls:
        started = time.perf_counter()
        answered = await call()
        elapsed = (time.perf_counter() - started) * 1000
        if answered:
            latencies.append(elapsed)
            continue
        missed += 1
        if missed > 120:
            raise RuntimeError("the analytics service stayed unavailable")
        await asyncio.sleep(1)
    return percentile(latencies, 50), percentile(latencies, 95)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reload", action="store_true", help="load again even if loaded")
    parser.add_argument(
        "--only", action="append", default=[], help="a report's name (repeatable): those only"
    )
    parser.add_argument("--clean", action="store_true", help="remove the bench's data and stop")
    args = parser.parse_args()
    servers = Servers.from_environment()

    async with client_session() as session:
        ch = ClickHouse(session, url=servers.clickhouse, database="default", timeout_s=600)
        if args.clean:
            marker = await loaded(ch, "")
            if marker is not None:
                await forget(ch, marker)
            print("removed" if marker else "nothing loaded")
            return
        data = await prepare(ch, args.rows, args.tenants, args.reload)
        tenant = uuid.UUID(data["tenants"][0])
        end = datetime.fromtimestamp(data["end"], UTC)
        start = end - timedelta(days=RANGE_DAYS)
        window = ReportWindow.parse(
            start, end, "day", "UTC", max_span=timedelta(days=400), max_buckets=5000
        )
        params = {"from": start.isoformat(), "to": end.isoformat(), "granularity": "day"}
        busiest = await ch.rows(
            f"SELECT user_id, count() AS n FROM user_activity WHERE tenant_id = {quote(str(tenant))}"
            f" AND timestamp >= {int(start.timestamp())} GROUP BY user_id ORDER BY n DESC LIMIT 1"
        )
        caller = Caller(
            tenant_id=tenant,
            user_id=uuid.uuid4(),
            role_id=uuid.uuid4(),
            session_id="bench",
            permissions=(Permission("analytics", "read"),),
        )
        reader = Recording(session, url=servers.clickhouse, database="default", user=READER)
        figures: dict[str, dict[str, Any]] = {}
        headers = {"Authorization": f"Bearer {data['token']}"}
        async with httpx.AsyncClient(base_url=GATEWAY, timeout=60, headers=headers) as http:
            for name, (path, extra, in_process) in reports(
                uuid.UUID(busiest[0]["user_id"])
            ).items():
                if args.only and name not in args.only:
                    continue
                reader.sent = []
                await in_process(reader, caller, window)  # the SQL it sends, captured
                sent = list(reader.sent)

                async def through_gateway(p: str = path, e: dict[str, Any] = extra) -> bool:
                    response = await http.get(f"/api/analytics{p}", params={**params, **e})
                    if response.status_code in (502, 503) and "clickhouse" not in response.text:
                        return False
                    response.raise_for_status()
                    return True

                async def floor(s: list[tuple[dict[str, str], bytes]] = sent) -> bool:
                    # A report's reads run at once (active users: four), as the service runs them.
                    await asyncio.gather(*(ClickHouse._post(reader, q, b) for q, b in s))
                    return True

                await timed(1, through_gateway)  # warm
                service50, service95, floor50, floor95 = [], [], [], []
                for _ in range(args.runs):
                    p50, p95 = await timed(args.calls, through_gateway)
                    service50.append(p50)
                    service95.append(p95)
                    p50, p95 = await timed(args.calls, floor)
                    floor50.append(p50)
                    floor95.append(p95)
                s50, s95, f50, f95 = map(median, (service50, service95, floor50, floor95))
                figures[f"{name}_p50_ms"] = figure(s50, "ms", "lower")
                figures[f"{name}_p95_ms"] = figure(s95, "ms", "lower", TARGET_P95_MS)
                figures[f"{name}_floor_p50_ms"] = figure(f50, "ms", "lower")
                figures[f"{name}_floor_p95_ms"] = figure(f95, "ms", "lower")
                figures[f"{name}_p50_floor_ratio"] = figure(s50 / f50, "ratio", "lower")
                print(
                    f"{name}: p50 {s50:.0f} p95 {s95:.0f} ms; floor p50 {f50:.0f} p95 {f95:.0f}"
                    f" ms; ratio {s50 / f50:.2f}"
                )
        in_range = await ch.rows(
            "SELECT count() AS n FROM query_metrics"
            f" WHERE tenant_id = {quote(str(tenant))} AND timestamp >= {int(start.timestamp())}"
        )

    write(
        "analytics",
        {
            "rows_per_table": data["counts"],
            "tenants": args.tenants,
            "days_of_data": DAYS,
            "range_days": RANGE_DAYS,
            "granularity": "day",
            "reported_tenant": "the heaviest (Zipf 1/k sizes), signed up through identity",
            "reported_tenant_query_metrics_in_range": int(in_range[0]["n"]),
            "calls_per_run": args.calls,
            "runs": args.runs,
            "data_reused": data["reused"],
            "load_s": data["load_s"],
            "service_path": "client → nginx gateway → analytics → ClickHouse (lookout_reader)",
            "floor": "the same SQL and settings POSTed straight to ClickHouse HTTP, same user",
        },
        figures,
    )


if __name__ == "__main__":
    asyncio.run(main())
