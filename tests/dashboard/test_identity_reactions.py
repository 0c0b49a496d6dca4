"""Identity's events, published through the real broker, drive the dashboard service's cleanups."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from lookout_contracts import make_event
from lookout_contracts.events.identity import RoleDeletedV1, TenantDeletedV1, UserDeletedV1
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until
from pydantic import BaseModel

from .conftest import DashboardService
from .support import MEMBER, Actor, Client, permission


@pytest.fixture
async def publish(dashboards: DashboardService, servers: Servers) -> AsyncIterator[Any]:
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, enable_idempotence=False)
    await producer.start()

    async def send(
        type_: str, tenant_id: uuid.UUID, subject_id: uuid.UUID, data: BaseModel
    ) -> None:
        event = make_event(type_, tenant_id=tenant_id, subject_id=subject_id, data=data)
        await producer.send_and_wait(dashboards.identity_topic, event.to_json(), key=event.key)

    yield send
    await producer.stop()


async def grants_of(client: Client, dashboard_id: str) -> list[dict[str, Any]]:
    response = await client.request("GET", f"/dashboards/{dashboard_id}/grants")
    assert response.status_code == 200, response.text
    grants: list[dict[str, Any]] = response.json()
    return grants


async def test_user_deleted_moves_dashboards_and_removes_grants(
    dashboards: DashboardService, tenant: uuid.UUID, publish: Any
) -> None:
    leaver = dashboards.client(Actor(tenant, permissions=MEMBER))
    admin = dashboards.client(Actor(tenant, permissions=[permission("admin")]))
    theirs = await leaver.create(name="Leaver's board")
    shared = await admin.create(name="Shared with the leaver")
    stayer = uuid.uuid4()
    for grant in (
        {"user_id": str(leaver.actor.user_id), "permission": "edit"},
        {"user_id": str(stayer), "permission": "view"},  # another user's grant: it stays
    ):
        assert (
            await admin.request("POST", f"/dashboards/{shared['id']}/grants", json=grant)
        ).status_code == 201

    await publish(
        "user.deleted",
        tenant,
        leaver.actor.user_id,
        UserDeletedV1(successor_id=admin.actor.user_id),
    )

    async def moved() -> bool:
        board = (await admin.request("GET", f"/dashboards/{theirs['id']}")).json()
        grants = await grants_of(admin, shared["id"])
        return board["owner_id"] == str(admin.actor.user_id) and [
            (g["user_id"], g["permission"]) for g in grants
        ] == [(str(stayer), "view")]

    await wait_until(
        moved, timeout=30, message="the leaver's dashboards to move and their grant alone to go"
    )


async def test_role_deleted_removes_its_grants(
    dashboards: DashboardService, tenant: uuid.UUID, publish: Any
) -> None:
    owner = dashboards.client(Actor(tenant, permissions=MEMBER))
    board = await owner.create()
    role_id, user_id = uuid.uuid4(), uuid.uuid4()
    for grant in (
        {"role_id": str(role_id), "permission": "view"},
        {"user_id": str(user_id), "permission": "view"},
    ):
        assert (
            await owner.request("POST", f"/dashboards/{board['id']}/grants", json=grant)
        ).status_code == 201

    await publish("role.deleted", tenant, role_id, RoleDeletedV1())

    async def only_user_grant_left() -> bool:
        return [g["user_id"] for g in await grants_of(owner, board["id"])] == [str(user_id)]

    await wait_until(only_user_grant_left, timeout=30, message="the role's grant to go")


async def test_tenant_deleted_removes_its_dashboards_only(
    dashboards: DashboardService, tenant: uuid.UUID, publish: Any
) -> None:
    doomed = dashboards.client(Actor(tenant, permissions=[permission("admin")]))
    survivor = dashboards.client(Actor(uuid.uuid4(), permissions=[permission("admin")]))
    for _ in range(3):
        await doomed.create()
    kept = await survivor.create()

    await publish("tenant.deleted", tenant, tenant, TenantDeletedV1())

    async def gone() -> bool:
        # The tenant's own tokens are refused now (revoked by the same event): look in the database.
        conn = await asyncpg.connect(dashboards.database)
        try:
            left = await conn.fetchval(
                "SELECT count(*) FROM dashboards WHERE tenant_id = $1", tenant
            )
        finally:
            await conn.close()
        return left == 0

    await wait_until(gone, timeout=30, message="the tenant's dashboards to go")
    assert (await survivor.request("GET", f"/dashboards/{kept['id']}")).status_code == 200

    # The revocation cache reads identity's events on a consumer of its own (in batches): it may
    # learn of the deletion a moment after the reaction applied it — within 5 s.
    async def refused() -> bool:
        return (await doomed.request("GET", "/dashboards")).status_code == 401

    await wait_until(refused, timeout=5, message="the deleted tenant's token to be refused")


async def test_a_redelivered_event_is_applied_once(
    dashboards: DashboardService, tenant: uuid.UUID, servers: Servers
) -> None:
    admin = dashboards.client(Actor(tenant, permissions=[permission("admin")]))
    board = await admin.create(name="Shared with the leaver")
    leaver, successor = uuid.uuid4(), admin.actor.user_id
    grant = {"user_id": str(leaver), "permission": "view"}
    event = make_event(
        "user.deleted",
        tenant_id=tenant,
        subject_id=leaver,
        data=UserDeletedV1(successor_id=successor),
    )
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, enable_idempotence=False)
    await producer.start()
    try:
        assert (
            await admin.request("POST", f"/dashboards/{board['id']}/grants", json=grant)
        ).status_code == 201
        await producer.send_and_wait(dashboards.identity_topic, event.to_json(), key=event.key)

        async def grant_gone() -> bool:
            return await grants_of(admin, board["id"]) == []

        await wait_until(grant_gone, timeout=30, message="the first delivery to remove the grant")
        # A grant made after the event was applied: applying the event again would remove it.
        assert (
            await admin.request("POST", f"/dashboards/{board['id']}/grants", json=grant)
        ).status_code == 201
        await producer.send_and_wait(dashboards.identity_topic, event.to_json(), key=event.key)
        # A later event on the copy's partition (its key), so that it cannot overtake it: once it
        # is applied, the copy has been handled.
        marker = dashboards.client(Actor(tenant, permissions=MEMBER))
        marker_board = await marker.create(name="Marker")
        later = make_event(
            "user.deleted",
            tenant_id=tenant,
            subject_id=marker.actor.user_id,
            data=UserDeletedV1(successor_id=successor),
        )
        await producer.send_and_wait(dashboards.identity_topic, later.to_json(), key=event.key)
    finally:
        await producer.stop()

    async def marker_moved() -> bool:
        found = (await admin.request("GET", f"/dashboards/{marker_board['id']}")).json()
        return bool(found["owner_id"] == str(successor))

    await wait_until(marker_moved, timeout=30, message="the later event to be applied")
    assert [(g["user_id"], g["permission"]) for g in await grants_of(admin, board["id"])] == [
        (str(leaver), "view")
    ]
