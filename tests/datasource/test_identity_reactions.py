"""Identity's events, published through the real broker, drive the datasource service's cleanups:
a deleted tenant's sources and queries go; a deleted user's private queries go and the rest moves to
the successor (or goes when there is none)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from lookout_contracts import make_event
from lookout_contracts.events.identity import TenantDeletedV1, UserDeletedV1
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until
from pydantic import BaseModel

from .conftest import DatasourceService
from .support import ADMIN, EDITOR, Actor
from .test_data_sources import events_about


@pytest.fixture
async def publish(datasource: DatasourceService, servers: Servers) -> AsyncIterator[Any]:
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, enable_idempotence=False)
    await producer.start()

    async def send(
        type_: str, tenant_id: uuid.UUID, subject_id: uuid.UUID, data: BaseModel
    ) -> None:
        event = make_event(type_, tenant_id=tenant_id, subject_id=subject_id, data=data)
        await producer.send_and_wait(datasource.identity_topic, event.to_json(), key=event.key)

    async def raw(event: Any, key: bytes | None = None) -> None:
        """``event`` as it is, under its own key or ``key`` (another event's partition)."""
        await producer.send_and_wait(
            datasource.identity_topic, event.to_json(), key=key or event.key
        )

    send.raw = raw  # type: ignore[attr-defined]
    yield send
    await producer.stop()


async def status_of(client: Any, path: str) -> int:
    return int((await client.request("GET", path)).status_code)


async def rows_of(datasource: DatasourceService, tenant_id: uuid.UUID) -> int:
    """The tenant's rows in the service's tables (its tokens are refused once it is deleted)."""
    conn = await asyncpg.connect(datasource.database)
    try:
        count: int = await conn.fetchval(
            "SELECT (SELECT count(*) FROM data_sources WHERE tenant_id = $1)"
            " + (SELECT count(*) FROM saved_queries WHERE tenant_id = $1)",
            tenant_id,
        )
    finally:
        await conn.close()
    return count


async def test_tenant_deleted_removes_its_sources_and_queries(
    datasource: DatasourceService, tenant: uuid.UUID, publish: Any, servers: Servers
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await admin.create_source()
    query = await admin.create_query(source["id"])
    survivor_tenant = uuid.uuid4()
    other = datasource.client(Actor(survivor_tenant, ADMIN))
    kept = await other.create_source()

    await publish("tenant.deleted", tenant, tenant, TenantDeletedV1())

    assert await rows_of(datasource, tenant) == 2

    async def gone() -> bool:
        return await rows_of(datasource, tenant) == 0

    await wait_until(gone, timeout=30, message="the tenant's data sources and queries to go")
    assert await status_of(other, f"/data-sources/{kept['id']}") == 200
    events = await events_about(servers, {source["id"], query["id"]}, 4)
    deleted = [e for e in events if e["type"].endswith(".deleted")]
    assert sorted((e["type"], e["subject"]["id"]) for e in deleted) == [
        ("data_source.deleted", source["id"]),
        ("saved_query.deleted", query["id"]),
    ]
    assert all(e["actor_id"] is None for e in deleted)


async def test_user_deleted_with_a_successor(
    datasource: DatasourceService, tenant: uuid.UUID, publish: Any
) -> None:
    leaver = datasource.client(Actor(tenant, ADMIN))
    successor = datasource.client(Actor(tenant, EDITOR))
    source = await leaver.create_source()
    private = await leaver.create_query(source["id"], is_public=False)
    public = await leaver.create_query(source["id"], is_public=True)

    await publish(
        "user.deleted",
        tenant,
        leaver.actor.user_id,
        UserDeletedV1(successor_id=successor.actor.user_id),
    )

    async def moved() -> bool:
        found = await successor.request("GET", f"/saved-queries/{public['id']}")
        return found.json().get("owner_id") == str(successor.actor.user_id)

    await wait_until(moved, timeout=30, message="the leaver's public queries to move")
    assert (await successor.request("GET", f"/saved-queries/{public['id']}")).json()[
        "permission"
    ] == "admin"
    assert await status_of(successor, f"/saved-queries/{private['id']}") == 404
    admin = datasource.client(Actor(tenant, ADMIN))
    assert await status_of(admin, f"/saved-queries/{private['id']}") == 404  # gone, not hidden
    moved_source = (await successor.request("GET", f"/data-sources/{source['id']}")).json()
    assert moved_source["owner_id"] == str(successor.actor.user_id)


async def test_user_deleted_without_a_successor(
    datasource: DatasourceService, tenant: uuid.UUID, publish: Any
) -> None:
    leaver = datasource.client(Actor(tenant, ADMIN))
    colleague = datasource.client(Actor(tenant, EDITOR))
    theirs = await leaver.create_source()
    other_source = await datasource.client(Actor(tenant, ADMIN)).create_source()
    public = await leaver.create_query(other_source["id"], is_public=True)
    on_theirs = await colleague.create_query(theirs["id"])
    colleagues_own = await colleague.create_query(other_source["id"])

    await publish("user.deleted", tenant, leaver.actor.user_id, UserDeletedV1(successor_id=None))

    async def gone() -> bool:
        return await status_of(colleague, f"/data-sources/{theirs['id']}") == 404

    await wait_until(gone, timeout=30, message="the leaver's data sources to go")
    assert await status_of(colleague, f"/saved-queries/{public['id']}") == 404
    assert await status_of(colleague, f"/saved-queries/{on_theirs['id']}") == 404
    assert await status_of(colleague, f"/saved-queries/{colleagues_own['id']}") == 200
    assert await status_of(colleague, f"/data-sources/{other_source['id']}") == 200


async def test_a_redelivered_event_changes_nothing(
    datasource: DatasourceService, tenant: uuid.UUID, publish: Any
) -> None:
    leaver = datasource.client(Actor(tenant, ADMIN))
    successor = datasource.client(Actor(tenant, ADMIN))
    source = await leaver.create_source()
    event = make_event(
        "user.deleted",
        tenant_id=tenant,
        subject_id=leaver.actor.user_id,
        data=UserDeletedV1(successor_id=successor.actor.user_id),
    )
    for _ in range(2):  # the same event (same id) twice, as a redelivery would
        await publish.raw(event)
    marker = datasource.client(Actor(tenant, ADMIN))
    marker_source = await marker.create_source()
    # An event after both on their partition (their key): once it is applied, both copies have
    # been handled (under its own key it could land on another partition and overtake them).
    later = make_event(
        "user.deleted",
        tenant_id=tenant,
        subject_id=marker.actor.user_id,
        data=UserDeletedV1(successor_id=successor.actor.user_id),
    )
    await publish.raw(later, key=event.key)

    async def marker_moved() -> bool:
        found = (await successor.request("GET", f"/data-sources/{marker_source['id']}")).json()
        return bool(found["owner_id"] == str(successor.actor.user_id))

    await wait_until(marker_moved, timeout=30, message="the later event to be applied")
    found = (await successor.request("GET", f"/data-sources/{source['id']}")).json()
    assert found["owner_id"] == str(successor.actor.user_id)
    assert found["version"] == 2  # moved once, not twice
