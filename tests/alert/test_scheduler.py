"""The scheduler on the kit's lease: two replicas' schedulers over the same alerts evaluate each due
alert exactly once (``claim_due``: ``FOR UPDATE SKIP LOCKED``), notify each trigger once, and set
each alert's next run from its schedule; evaluate-now waits for no lease another holds (409)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from lookout_alert.service.engine import Engine
from lookout_alert.service.scheduler import Scheduler
from lookout_kit.lease import claim_due
from lookout_testing.waiting import wait_until

from .conftest import AlertService
from .support import ADMIN, SECRET, Actor, WebhookReceiver, metrics_query, set_metric

ALERTS = 24


@asynccontextmanager
async def schedulers(service: AlertService, count: int, *, batch: int) -> AsyncIterator[None]:
    """``count`` replicas' schedulers (an engine and a scheduler each) over the service's
    database, running while the block runs."""
    settings = service.settings.model_copy(update={"scheduler_batch": batch})
    replicas = []
    for _ in range(count):
        engine = Engine(settings, datasource_transport=service.transport)
        await engine.start(service.app.state.runtime)
        replicas.append((engine, Scheduler(engine)))
    try:
        for _, scheduler in replicas:
            scheduler.worker.start()
        yield
    finally:
        for engine, scheduler in replicas:
            await scheduler.stop()
            await engine.stop()


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
        connection = await asyncpg.connect(alert_service.database)
        try:
            async with schedulers(alert_service, 2, batch=5):

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
            executions = await connection.fetchval(
                "SELECT count(DISTINCT execution_id) FROM alert_history"
                " WHERE alert_id = ANY($1::uuid[])",
                ids,
            )
        finally:
            await connection.close()
    assert [row["evaluations"] for row in rows] == [1] * ALERTS
    assert {row["state"] for row in rows} == {"triggered"} and history == ALERTS
    # A round runs one tenant's same query with the same values once, for all its alerts.
    assert executions < ALERTS
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


async def test_the_datasource_down_is_one_error_no_storm_and_recovery_by_itself(
    alert_service: AlertService, tenant: uuid.UUID, database: str
) -> None:
    """Evaluated every second by the scheduler: the datasource service unreachable puts the alert
    in error with one history row however many evaluations fail, and sends nothing; when it is
    back the alert recovers on its own (still met: no new trigger); the rows go back: one resolve."""
    admin = alert_service.client(Actor(tenant, ADMIN))
    query_id = await metrics_query(alert_service.datasource_client(admin.actor), database)
    await set_metric(database, "errors", 50)
    async with WebhookReceiver() as receiver:
        alert_id = (
            await admin.create_alert(
                query_id=query_id,
                notification_config={
                    "channels": [{"kind": "webhook", "url": receiver.url, "secret": SECRET}]
                },
                schedule={"kind": "interval", "seconds": 1},
            )
        )["id"]

        async def alert() -> dict[str, Any]:
            body: dict[str, Any] = (await admin.request("GET", f"/alerts/{alert_id}")).json()
            return body

        async def in_state(state: str) -> bool:
            return (await alert())["state"] == state

        async def evaluations() -> int:
            connection = await asyncpg.connect(alert_service.database)
            try:
                count: int = await connection.fetchval(
                    "SELECT evaluations FROM alerts WHERE id = $1", uuid.UUID(alert_id)
                )
            finally:
                await connection.close()
            return count

        async with schedulers(alert_service, 1, batch=50):
            await wait_until(lambda: in_state("triggered"), timeout=20, message="the trigger")
            alert_service.transport.down = True
            try:
                await wait_until(lambda: in_state("error"), timeout=20, message="the error")
                failing_since = await evaluations()

                async def failed_again() -> bool:
                    return await evaluations() >= failing_since + 3

                await wait_until(failed_again, timeout=20, message="more failed evaluations")
            finally:
                alert_service.transport.down = False
            await wait_until(lambda: in_state("triggered"), timeout=20, message="the recovery")
            await set_metric(database, "errors", 0)
            await wait_until(lambda: in_state("ok"), timeout=20, message="the resolve")
    history = (await admin.history(alert_id))["items"]
    assert [h["kind"] for h in history] == ["resolved", "error", "triggered"]
    assert [r["event"] for r in receiver.received] == ["triggered", "resolved"]
