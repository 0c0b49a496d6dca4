"""The scheduler on the kit's lease: two replicas' schedulers over the same alerts evaluate each due
alert exactly once (``claim_due``: ``FOR UPDATE SKIP LOCKED``), notify each trigger once, and set
each alert's next run from its schedule; evaluate-now waits for no lease another holds (409)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from lookout_alert.service.engine import Engine
from lookout_alert.service.scheduler import Scheduler
from lookout_kit.lease import claim_due
from lookout_testing.waiting import wait_until

from .conftest import AlertService
from .support import ADMIN, SECRET, Actor, WebhookReceiver, metrics_query, set_metric

ALERTS = 24


async def test_two_schedulers_evaluate_each_due_alert_once(
    alert_service: AlertService, tenant: uuid.UUID, database: str
) -> None:
    admin = alert_service.client(Actor(tenant, ADMIN))
    query_id = await metrics_query(alert_service.datasource_client(admin.actor), database)
    await set_metric(database, "errors", 50)
    async with WebhookReceiver() as receiver:
        channel = {"kind": "webhook", "url": receiver.url, "secret": SECRET}
        ids = [
            (
                await admin.create_alert(
                    query_id=query_id,
                    parameter_values={"name": "errors"},
                    notification_config={"channels": [channel]},
                    schedule={"kind": "interval", "seconds": 3600},
                )
            )["id"]
            for _ in range(ALERTS)
        ]
        runtime = alert_service.app.state.runtime
        settings = alert_service.settings.model_copy(update={"scheduler_batch": 5})
        replicas = []
        for _ in range(2):
            engine = Engine(settings, datasource_transport=alert_service.transport)
            await engine.start(runtime)
            replicas.append((engine, Scheduler(engine)))
        connection = await asyncpg.connect(alert_service.database)
        try:
            for _, scheduler in replicas:
                scheduler.worker.start()

            async def all_evaluated() -> bool:
                done = await connection.fetchval(
                    "SELECT count(*) FROM alerts WHERE id = ANY($1::uuid[])"
                    " AND evaluations > 0 AND leased_until IS NULL",
                    ids,
                )
                return bool(done == ALERTS)

            await wait_until(all_evaluated, timeout=60, message="every alert to be evaluated")
            await asyncio.sleep(0.5)  # a second evaluation, were there one, would show by now
            rows = await connection.fetch(
                "SELECT evaluations, state, next_run_at, leased_by FROM alerts"
                " WHERE id = ANY($1::uuid[])",
                ids,
            )
            history = await connection.fetchval(
                "SELECT count(*) FROM alert_history WHERE alert_id = ANY($1::uuid[])", ids
            )
        finally:
            for engine, scheduler in replicas:
                await scheduler.stop()
                await engine.stop()
            await connection.close()
    assert [row["evaluations"] for row in rows] == [1] * ALERTS
    assert {row["state"] for row in rows} == {"triggered"} and history == ALERTS
    later = datetime.now(UTC) + timedelta(minutes=55)
    assert all(row["next_run_at"] > later and row["leased_by"] is None for row in rows)
    assert sorted(r["alert"]["id"] for r in receiver.received) == sorted(ids)
    assert all(receiver.verified)


async def test_evaluate_now_refuses_an_alert_another_replica_holds(
    alert_service: AlertService, tenant: uuid.UUID
) -> None:
    admin = alert_service.client(Actor(tenant, ADMIN))
    alert_id = (await admin.create_alert())["id"]
    connection = await asyncpg.connect(alert_service.database)
    try:
        held = await claim_due(
            connection, "alerts", limit=1, lease_s=60, owner="elsewhere", only=[uuid.UUID(alert_id)]
        )
        assert len(held) == 1
        response = await admin.request("POST", f"/alerts/{alert_id}/evaluate")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "evaluation_in_progress"
    finally:
        await connection.close()
