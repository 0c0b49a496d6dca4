"""Two scheduler replicas over 500 alerts for 60 s (issue 16's acceptance): every due evaluation ran
exactly once and no notification was sent twice.

The replicas are two alert apps of their own, each with its own database pool, engine and
scheduler (its own lease owner), over one database of this test's own; they run the saved queries
through the real datasource service (in-process, on the real PostgreSQL: the session's) and notify
a real local HTTP receiver. The 500 alerts are on 20 saved queries of 4 tenants, each every 10 s
(50 evaluations due a second): the issue names no schedule, and this shared 2-core machine, running
both replicas and the datasource service in this one process, keeps up with that but not with
every second (``make bench-alert`` runs that, in processes of their own). They are stored as the
service stores new alerts, not made through the API (the scheduler is what is tested here).

What is counted is an evaluation log of the test's own: a trigger on ``alerts`` records each
evaluation (``evaluations`` grows; with the due time it ran for, the row's ``next_run_at`` then) and
each completion (``next_run_at`` set: the next due time). So each alert's due times are known (the
first at creation, each next one set by a completion: an interval counts from its completion) and
each evaluation names the due time it ran for."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI
from lookout_alert.app import create_app
from lookout_alert.repository import alerts
from lookout_alert.schemas.alerts import AlertCreate
from lookout_alert.service.channel_secrets import seal_channels
from lookout_alert.service.engine import Engine
from lookout_alert.service.scheduler import Scheduler
from lookout_kit.auth import Authenticator
from lookout_testing.databases import temporary_database
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until

from .conftest import AlertService, _ready, alert_settings
from .support import ADMIN, AUDIENCE, ISSUER, SECRET, Actor, WebhookReceiver, an_alert, set_metric

ALERTS = 500
TENANTS = 4
QUERIES_PER_TENANT = 5
INTERVAL_S = 10
WINDOW_S = 60.0
NOTIFYING = 100
"""Alerts whose rows cross the threshold and go back (the others' never do): each must be notified
of its trigger once and of its resolve once. (All 500 notifying at once costs this machine ~20 s
of the window: deliveries are not what is counted here.)"""
FLIP_AFTER_S = INTERVAL_S + 2.0
"""When the rows cross: after every alert's first evaluation (its baseline)."""
BOUNDARY_S = float(INTERVAL_S)
"""The window's last stretch, whose due times may not have run when the replicas stop: a due alert
waits for a round (``scheduler_poll_s``, 1 s, +10 % jitter) and for the rounds ahead of it, ~1 s
late here and up to ~5 s while this 2-core machine is busy (load 8). A scheduler is behind when a
due time waits as long as the interval itself (the next would come due before it ran): so every
due time up to one interval before the stop must have run."""

EVALUATION_LOG = """
CREATE TABLE test_evaluation_log (
    alert_id uuid NOT NULL,
    kind text NOT NULL,
    due_at timestamptz,
    owner text,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION test_log_evaluation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.evaluations <> OLD.evaluations THEN
        INSERT INTO test_evaluation_log (alert_id, kind, due_at, owner)
        VALUES (NEW.id, 'evaluated', OLD.next_run_at, NEW.leased_by);
    END IF;
    IF NEW.next_run_at IS DISTINCT FROM OLD.next_run_at THEN
        INSERT INTO test_evaluation_log (alert_id, kind, due_at, owner)
        VALUES (NEW.id, 'scheduled', NEW.next_run_at, OLD.leased_by);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_log_evaluation AFTER UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION test_log_evaluation();
"""


@asynccontextmanager
async def replicas(
    service: AlertService, servers: Servers, database: str, count: int
) -> AsyncIterator[list[FastAPI]]:
    """``count`` alert apps on ``database`` (each its own pool, engine and scheduler), their
    schedulers not started; the datasource service is the session's."""
    async with AsyncExitStack() as stack:
        apps = []
        for _ in range(count):
            settings = alert_settings(database, servers, scheduler_batch=50, database_pool_max=6)
            app = create_app(
                settings,
                Authenticator(service.keys, issuer=ISSUER, audience=AUDIENCE),
                service.transport,
            )
            await stack.enter_async_context(app.router.lifespan_context(app))
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://alert")
            )
            await _ready(http, "alert")
            apps.append(app)
        yield apps


async def tenant_queries(service: AlertService, tenant: uuid.UUID) -> list[str]:
    """A data source of ``tenant`` on the session's ``metrics`` and its saved queries on it."""
    datasource = service.datasource_client(Actor(tenant, ADMIN))
    source = await datasource.request(
        "POST",
        "/data-sources",
        json={
            "name": "metrics",
            "type": "postgresql",
            "connection_config": {
                "host": "127.0.0.1",
                "port": 5432,
                "database": service.data_database.rsplit("/", 1)[1],
                "user": "postgres",
                "password": "unused",
                "ssl_mode": "disable",
            },
        },
    )
    assert source.status_code == 201, source.text
    queries = []
    for number in range(QUERIES_PER_TENANT):
        query = await datasource.request(
            "POST",
            "/saved-queries",
            json={
                "name": f"metric {number}",
                "query_text": f"SELECT value, {number} AS n FROM metrics WHERE name = {{{{ name }}}}",
                "data_source_id": source.json()["id"],
                "parameters": [{"name": "name", "type": "text", "required": True}],
            },
        )
        assert query.status_code == 201, query.text
        queries.append(str(query.json()["id"]))
    return queries


async def reached(condition: Callable[[], Awaitable[bool]], deadline: float) -> bool:
    """Whether ``condition`` holds before ``deadline`` (``time.monotonic()``); what it means is
    asserted after the counts, which say more when it does not."""
    try:
        await wait_until(condition, timeout=max(0.0, deadline - time.monotonic()))
    except AssertionError:
        return False
    return True


async def insert_alert(
    conn: asyncpg.Connection,
    engine: Engine,
    tenant: uuid.UUID,
    body: dict[str, Any],
    due: datetime,
) -> str:
    """An alert of ``tenant`` stored as the service stores a new one (its channels sealed), due at
    ``due``, without the API: 500 of them through it (each checked against the datasource service
    as its creator) would cost this test half a minute more."""
    alert = AlertCreate.model_validate(body)
    alert_id = uuid.uuid4()
    row = await alerts.insert_alert(
        conn,
        alert_id=alert_id,
        tenant_id=tenant,
        user_id=uuid.uuid4(),
        query_id=alert.query_id,
        content={
            "name": alert.name,
            "description": alert.description,
            "parameter_values": alert.parameter_values,
            "condition_config": alert.condition_config.model_dump(mode="json"),
            "notification_config": seal_channels(
                engine.box, alert_id, alert.notification_config, None
            ),
            "schedule": alert.schedule.model_dump(mode="json"),
            "cooldown_s": alert.cooldown_s,
            "mute_until": alert.mute_until,
            "is_active": True,
        },
        next_run_at=due,
    )
    return str(row.id)


async def test_two_replicas_run_each_due_evaluation_of_500_alerts_once_for_60_s(
    alert_service: AlertService, servers: Servers
) -> None:
    data = alert_service.data_database
    quiet, flipping = f"quiet-{uuid.uuid4().hex[:8]}", f"flipping-{uuid.uuid4().hex[:8]}"
    await set_metric(data, quiet, 0)
    await set_metric(data, flipping, 0)
    async with (
        temporary_database(servers.postgres, prefix="test_alert_replicas") as database,
        WebhookReceiver() as receiver,
        replicas(alert_service, servers, database, 2) as apps,
    ):
        channel = {"kind": "webhook", "url": receiver.url, "secret": SECRET}
        tenants = [uuid.uuid4() for _ in range(TENANTS)]
        queries = {tenant: await tenant_queries(alert_service, tenant) for tenant in tenants}
        engine = apps[0].state.components[Engine]
        ids, notifying = [], []
        async with engine.pool.acquire() as conn, conn.transaction():
            # Due over the next interval, as alerts made over 10 s would be (all due at one
            # moment, the replicas would take ~5 s to work through the first 500 here, and keep
            # them bunched so at every interval).
            now: datetime = await conn.fetchval("SELECT statement_timestamp()")
            for number in range(ALERTS):
                tenant = tenants[number % TENANTS]
                metric = flipping if number % (ALERTS // NOTIFYING) == 0 else quiet
                alert_id = await insert_alert(
                    conn,
                    engine,
                    tenant,
                    an_alert(
                        query_id=queries[tenant][number // TENANTS % QUERIES_PER_TENANT],
                        parameter_values={"name": metric},
                        notification_config={"channels": [channel]},
                        schedule={"kind": "interval", "seconds": INTERVAL_S},
                    ),
                    now + timedelta(seconds=INTERVAL_S * number / ALERTS),
                )
                ids.append(alert_id)
                if metric == flipping:
                    notifying.append(alert_id)

        connection = await asyncpg.connect(database)
        try:
            await connection.execute(EVALUATION_LOG)
            first_due = {
                row["id"]: row["next_run_at"]
                for row in await connection.fetch("SELECT id, next_run_at FROM alerts")
            }

            async def all_in(state: str) -> bool:
                count = await connection.fetchval(
                    "SELECT count(*) FROM alerts WHERE id = ANY($1::uuid[]) AND state = $2",
                    notifying,
                    state,
                )
                return bool(count == NOTIFYING)

            schedulers = [app.state.components[Scheduler] for app in apps]
            assert len({scheduler.owner for scheduler in schedulers}) == 2
            started: datetime = await connection.fetchval("SELECT statement_timestamp()")
            began = time.monotonic()
            for scheduler in schedulers:
                scheduler.worker.start()
            try:
                await asyncio.sleep(FLIP_AFTER_S)  # every alert's first evaluation: the baseline
                await set_metric(data, flipping, 50)
                triggered = await reached(lambda: all_in("triggered"), began + WINDOW_S / 2)
                await set_metric(data, flipping, 0)
                resolved = await reached(lambda: all_in("ok"), began + WINDOW_S)
                await asyncio.sleep(max(0.0, WINDOW_S - (time.monotonic() - began)))
                stopped: datetime = await connection.fetchval("SELECT statement_timestamp()")
            finally:
                await asyncio.gather(*(scheduler.stop() for scheduler in schedulers))
            log = await connection.fetch(
                "SELECT alert_id, kind, due_at, owner, at FROM test_evaluation_log ORDER BY at"
            )
            history = await connection.fetch("SELECT alert_id, kind FROM alert_history")
        finally:
            await connection.close()

    assert sorted(map(str, first_due)) == sorted(ids)
    dues: dict[Any, list[datetime]] = {alert: [due] for alert, due in first_due.items()}
    evaluated: dict[Any, list[datetime]] = defaultdict(list)
    owners: Counter[str] = Counter()
    lateness = []
    for entry in log:
        if entry["kind"] == "scheduled":
            dues[entry["alert_id"]].append(entry["due_at"])
        else:
            evaluated[entry["alert_id"]].append(entry["due_at"])
            owners[entry["owner"]] += 1
            lateness.append((entry["at"] - entry["due_at"]).total_seconds())
    owed_until = stopped - timedelta(seconds=BOUNDARY_S)
    twice, unscheduled, missed, wrong_count, counts = {}, {}, {}, {}, []
    for alert, due_times in dues.items():
        runs = Counter(evaluated[alert])
        if any(times > 1 for times in runs.values()):
            twice[alert] = runs
        if set(runs) - set(due_times):
            unscheduled[alert] = sorted(set(runs) - set(due_times))
        owed = [due for due in due_times if due <= owed_until]
        if any(due not in runs for due in owed):
            missed[alert] = [due for due in owed if due not in runs]
        # Its evaluations are its due times in the window: all those owed, and perhaps one of
        # the last stretch's.
        in_window = [due for due in due_times if due <= stopped]
        if not len(owed) <= runs.total() <= len(in_window):
            wrong_count[alert] = (runs.total(), len(owed), len(in_window))
        counts.append(runs.total())
    lateness.sort()
    figures = (
        f"{sum(counts)} evaluations of {ALERTS} alerts in {(stopped - started).total_seconds():.1f} s"
        f" (per alert: {dict(sorted(Counter(counts).items()))}), by replica {sorted(owners.values())};"
        f" late by p50 {lateness[len(lateness) // 2]:.2f} s, max {lateness[-1]:.2f} s"
    )
    print(f"\n{figures}")
    assert twice == {}, f"{len(twice)} alerts evaluated twice for one due time ({figures})"
    assert unscheduled == {}, f"{len(unscheduled)} alerts evaluated when not due ({figures})"
    assert missed == {}, f"{len(missed)} alerts missed a due evaluation ({figures})"
    assert wrong_count == {}, f"{len(wrong_count)} alerts' counts are not their dues' ({figures})"
    assert min(counts) >= WINDOW_S // (INTERVAL_S + BOUNDARY_S), figures
    assert len(owners) == 2 and min(owners.values()) > sum(counts) // 10, figures

    # The flipping alerts triggered once and resolved once: one history row and one delivered
    # notification each, none twice; the quiet ones none.
    once_each = Counter(
        {(alert, kind): 1 for alert in notifying for kind in ("triggered", "resolved")}
    )
    assert Counter((str(row["alert_id"]), row["kind"]) for row in history) == once_each
    assert Counter((r["alert"]["id"], r["event"]) for r in receiver.received) == once_each
    assert all(receiver.verified)
    assert triggered and resolved, "the flipping alerts did not all trigger and resolve in time"
