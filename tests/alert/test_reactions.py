"""Other services' events, through the real broker, keep the alerts' references true: a deleted
saved query's alerts are deactivated with the reason recorded; a deleted tenant's alerts and their
history go. Each once, however often the event comes."""

from __future__ import annotations

import uuid

import asyncpg
from aiokafka import AIOKafkaProducer
from lookout_contracts import make_event
from lookout_contracts.events.datasource import SavedQueryDeletedV1
from lookout_contracts.events.identity import TenantDeletedV1, UserDeletedV1
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until
from pydantic import BaseModel

from .conftest import AlertService
from .support import ADMIN, Actor, events_of


async def publish(servers: Servers, topic: str, type_: str, tenant_id: uuid.UUID,
                  subject_id: uuid.UUID, data: BaseModel, copies: int = 1) -> None:  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, enable_idempotence=False)
    await producer.start()
    try:
        event = make_event(type_, tenant_id=tenant_id, subject_id=subject_id, data=data)
        for _ in range(copies):
            await producer.send_and_wait(topic, event.to_json(), key=event.key)
    finally:
        await producer.stop()


async def test_a_deleted_saved_querys_alerts_are_deactivated_with_the_reason(
    alert_service: AlertService, tenant: uuid.UUID, servers: Servers
) -> None:
    admin = alert_service.client(Actor(tenant, ADMIN))
    query_id = uuid.UUID(await alert_service.new_query(tenant))
    on_it = [(await admin.create_alert(query_id=str(query_id)))["id"] for _ in range(2)]
    other = (await admin.create_alert())["id"]  # on another saved query
    await publish(servers, alert_service.datasource_topic, "saved_query.deleted", tenant,
                  query_id, SavedQueryDeletedV1(), copies=2)  # fmt: skip

    async def deactivated() -> bool:
        alert = (await admin.request("GET", f"/alerts/{on_it[1]}")).json()
        return alert["is_active"] is False

    await wait_until(deactivated, timeout=30, message="the alerts to be deactivated")
    for alert_id in on_it:
        alert = (await admin.request("GET", f"/alerts/{alert_id}")).json()
        assert alert["deactivated_reason"] == "its saved query was deleted"
        assert alert["next_run_at"] is None
        updates = [e for e in await events_of(alert_service.database, alert_id)
                   if e["type"] == "alert.updated"]  # fmt: skip
        assert [u["data"]["changed_fields"] for u in updates] == [["is_active"]]
        assert updates[0]["actor_id"] is None
    assert (await admin.request("GET", f"/alerts/{other}")).json()["is_active"] is True


async def test_a_deleted_tenants_alerts_and_history_go(
    alert_service: AlertService, tenant: uuid.UUID, servers: Servers
) -> None:
    admin = alert_service.client(Actor(tenant, ADMIN))
    always = {"value": {"kind": "row_count"}, "threshold": {"op": ">=", "value": 0}}
    ids = [(await admin.create_alert(condition_config=always))["id"] for _ in range(2)]
    assert (await admin.evaluate(ids[0]))["history_id"] is not None  # triggered: a history row
    survivor = alert_service.client(Actor(uuid.uuid4(), ADMIN))
    kept = (await survivor.create_alert())["id"]
    await publish(servers, alert_service.identity_topic, "tenant.deleted", tenant, tenant,
                  TenantDeletedV1(), copies=2)  # fmt: skip

    connection = await asyncpg.connect(alert_service.database)
    try:

        async def gone() -> bool:
            left = await connection.fetchval(
                "SELECT (SELECT count(*) FROM alerts WHERE tenant_id = $1)"
                " + (SELECT count(*) FROM alert_history WHERE tenant_id = $1)",
                tenant,
            )
            return bool(left == 0)

        await wait_until(gone, timeout=30, message="the tenant's alerts to go")
    finally:
        await connection.close()
    for alert_id in ids:
        types = [e["type"] for e in await events_of(alert_service.database, alert_id)]
        assert types.count("alert.deleted") == 1
    assert (await survivor.request("GET", f"/alerts/{kept}")).status_code == 200


async def test_a_deleted_users_alerts_go_to_the_successor_or_away(
    alert_service: AlertService, tenant: uuid.UUID, servers: Servers
) -> None:
    leaving, staying = Actor(tenant, ADMIN), Actor(tenant, ADMIN)
    kept = (await alert_service.client(leaving).create_alert())["id"]
    successor = uuid.uuid4()
    await publish(servers, alert_service.identity_topic, "user.deleted", tenant,
                  leaving.user_id, UserDeletedV1(successor_id=successor))  # fmt: skip
    reader = alert_service.client(Actor(tenant, ADMIN))  # never deleted: its token stays good

    async def moved() -> bool:
        alert = (await reader.request("GET", f"/alerts/{kept}")).json()
        return alert["owner_id"] == str(successor)

    await wait_until(moved, timeout=30, message="the alert to move to the successor")
    updates = [
        e for e in await events_of(alert_service.database, kept) if e["type"] == "alert.updated"
    ]
    assert [u["data"]["changed_fields"] for u in updates] == [["owner_id"]]

    gone = (await alert_service.client(staying).create_alert())["id"]
    await publish(servers, alert_service.identity_topic, "user.deleted", tenant,
                  staying.user_id, UserDeletedV1(successor_id=None))  # fmt: skip

    async def deleted() -> bool:
        return (await reader.request("GET", f"/alerts/{gone}")).status_code == 404

    await wait_until(deleted, timeout=30, message="the alert of a user without successor to go")
    assert (await reader.request("GET", f"/alerts/{kept}")).status_code == 200
