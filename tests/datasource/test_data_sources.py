"""Data sources through the HTTP API: CRUD in the caller's tenant, per-kind validation, write-only
secrets (masked, kept, cleared, sealed at rest), permissions, and the events of each change."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import asyncpg
import pytest
from lookout_testing.servers import Servers
from lookout_testing.topics import TopicCapture

from .conftest import DatasourceService
from .support import ADMIN, EDITOR, PASSWORD, VIEWER, Actor, a_source, permission

MASK = "********"


async def test_create_get_list_update_delete(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    created = await admin.create_source(name="Warehouse")
    assert created["name"] == "Warehouse" and created["type"] == "postgresql"
    assert created["owner_id"] == str(admin.actor.user_id)
    assert created["tenant_id"] == str(tenant) and created["version"] == 1
    assert created["connection_config"] == {
        "host": "127.0.0.1",
        "port": 5432,
        "database": "warehouse",
        "user": "reporter",
        "password": MASK,
        "connect_timeout_s": 10.0,
        "ssl_mode": "prefer",
    }
    path = f"/data-sources/{created['id']}"
    assert (await admin.request("GET", path)).json() == created

    renamed = await admin.request("PATCH", path, json={"name": "Warehouse EU"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Warehouse EU" and renamed.json()["version"] == 2

    listed = (await admin.request("GET", "/data-sources")).json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert listed["next_cursor"] is None

    assert (await admin.request("DELETE", path)).status_code == 204
    assert (await admin.request("GET", path)).status_code == 404
    assert (await admin.request("DELETE", path)).status_code == 404


async def test_pages_by_name(datasource: DatasourceService, tenant: uuid.UUID) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    names = [f"source {i:02d}" for i in range(5)]
    for name in reversed(names):
        await admin.create_source(name=name)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await admin.request("GET", "/data-sources", params=params)).json()
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == names
    bad = await admin.request("GET", "/data-sources", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    ("kind", "config", "where"),
    [
        ("postgresql", {"host": "db", "database": "x", "user": "u", "port": 0}, "port"),
        ("postgresql", {"host": "db", "user": "u"}, "database"),
        (
            "clickhouse",
            {"host": "db", "database": "x", "user": "u", "ssl_mode": "require"},
            "ssl_mode",
        ),
        ("mysql", {"host": "no spaces", "database": "x", "user": "u"}, "host"),
    ],
)
async def test_connection_config_is_validated_per_kind(
    datasource: DatasourceService,
    tenant: uuid.UUID,
    kind: str,
    config: dict[str, Any],
    where: str,
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    response = await admin.request(
        "POST", "/data-sources", json=a_source(type=kind, connection_config=config)
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_connection_config"
    assert ["body", "connection_config", where] in [detail["loc"] for detail in error["details"]]
    assert (await admin.request("GET", "/data-sources")).json()["items"] == []


async def test_bad_bodies_are_422_with_stable_codes(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    unknown_kind = await admin.request("POST", "/data-sources", json=a_source(type="oracle"))
    assert unknown_kind.status_code == 422 and unknown_kind.json()["error"]["code"] == "invalid"
    no_name = await admin.request("POST", "/data-sources", json=a_source(name=""))
    assert no_name.status_code == 422 and no_name.json()["error"]["code"] == "invalid"
    created = await admin.create_source()
    kind_change = await admin.request(
        "PATCH", f"/data-sources/{created['id']}", json={"type": "mysql"}
    )
    assert kind_change.status_code == 422
    host_removed = await admin.request(
        "PATCH", f"/data-sources/{created['id']}", json={"connection_config": {"host": None}}
    )
    assert host_removed.status_code == 422
    assert host_removed.json()["error"]["code"] == "invalid_connection_config"
    unknown_key = await admin.request(
        "PATCH", f"/data-sources/{created['id']}", json={"connection_config": {"bogus": None}}
    )
    assert unknown_key.status_code == 422
    assert unknown_key.json()["error"]["code"] == "invalid_connection_config"


async def test_names_are_unique_in_a_tenant(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    first = await admin.create_source(name="Same")
    again = await admin.request("POST", "/data-sources", json=a_source(name="Same"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "data_source_name_taken"
    other = await admin.create_source(name="Other")
    clash = await admin.request("PATCH", f"/data-sources/{other['id']}", json={"name": "Same"})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "data_source_name_taken"
    elsewhere = datasource.client(Actor(uuid.uuid4(), ADMIN))
    await elsewhere.create_source(name="Same")  # another tenant's names are its own
    assert (await admin.request("GET", f"/data-sources/{first['id']}")).status_code == 200


async def stored(datasource: DatasourceService, data_source_id: str) -> asyncpg.Record:
    conn = await asyncpg.connect(datasource.database)
    try:
        record = await conn.fetchrow(
            "SELECT connection_config::text AS config, secrets, secret_names, version"
            " FROM data_sources WHERE id = $1",
            uuid.UUID(data_source_id),
        )
    finally:
        await conn.close()
    assert record is not None
    return record


async def test_the_password_is_sealed_at_rest(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    created = await admin.create_source()
    row = await stored(datasource, created["id"])
    assert PASSWORD not in row["config"] and "password" not in row["config"]
    assert row["secrets"].startswith("v1:local:") and PASSWORD not in row["secrets"]
    assert list(row["secret_names"]) == ["password"]


async def test_an_update_keeps_an_omitted_secret_and_clears_a_null_one(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    created = await admin.create_source()
    path = f"/data-sources/{created['id']}"
    sealed = (await stored(datasource, created["id"]))["secrets"]

    moved = await admin.request("PATCH", path, json={"connection_config": {"host": "10.0.0.7"}})
    assert moved.status_code == 200, moved.text
    config = moved.json()["connection_config"]
    assert config["host"] == "10.0.0.7" and config["password"] == MASK
    assert config["user"] == "reporter"  # merged, not replaced
    after = await stored(datasource, created["id"])
    assert after["secrets"] != sealed  # sealed again (a new nonce) ...
    assert list(after["secret_names"]) == ["password"]  # ... and still set

    masked = await admin.request("PATCH", path, json={"connection_config": {"password": MASK}})
    assert masked.json()["version"] == 2  # the mask sent back changes nothing

    cleared = await admin.request("PATCH", path, json={"connection_config": {"password": None}})
    assert cleared.status_code == 200
    assert cleared.json()["connection_config"]["password"] is None
    assert cleared.json()["version"] == 3
    row = await stored(datasource, created["id"])
    assert row["secrets"] is None and list(row["secret_names"]) == []

    again = await admin.request("PATCH", path, json={"connection_config": {"password": "new"}})
    assert again.json()["connection_config"]["password"] == MASK


async def test_another_tenants_source_is_not_found(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    created = await admin.create_source()
    path = f"/data-sources/{created['id']}"
    stranger = datasource.client(Actor(uuid.uuid4(), ADMIN))
    for method, body in (("GET", None), ("PATCH", {"name": "mine"}), ("DELETE", None)):
        response = await stranger.request(method, path, json=body)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["error"]["code"] == "not_found"
    assert (await stranger.request("GET", "/data-sources")).json()["items"] == []
    assert (await admin.request("GET", path)).json()["name"] == created["name"]


async def test_permissions(datasource: DatasourceService, tenant: uuid.UUID) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    created = await admin.create_source()
    path = f"/data-sources/{created['id']}"

    editor = datasource.client(Actor(tenant, EDITOR))
    assert (await editor.request("GET", path)).status_code == 200
    denied = await editor.request("POST", "/data-sources", json=a_source())
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert (await editor.request("PATCH", path, json={"name": "x"})).status_code == 403
    assert (await editor.request("DELETE", path)).status_code == 403

    nobody = datasource.client(Actor(tenant, []))
    assert (await nobody.request("GET", path)).status_code == 404
    assert (await nobody.request("DELETE", path)).status_code == 404
    assert (await nobody.request("GET", "/data-sources")).json()["items"] == []

    # Conditions: only the sources named by id, or only the caller's own.
    other = await admin.create_source()
    by_id = datasource.client(
        Actor(tenant, [permission("data_source", "read", {"ids": [created["id"]]})])
    )
    listed = (await by_id.request("GET", "/data-sources")).json()["items"]
    assert [item["id"] for item in listed] == [created["id"]]
    assert (await by_id.request("GET", f"/data-sources/{other['id']}")).status_code == 404

    own_only = [
        permission("data_source", "create"),
        permission("data_source", "admin", {"owner_only": True}),
    ]
    owner = datasource.client(Actor(tenant, own_only))
    mine = await owner.create_source()
    listed = (await owner.request("GET", "/data-sources")).json()["items"]
    assert [item["id"] for item in listed] == [mine["id"]]
    assert (await owner.request("DELETE", f"/data-sources/{mine['id']}")).status_code == 204
    assert (await owner.request("DELETE", path)).status_code == 404


async def test_a_source_in_use_is_not_deleted(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await admin.create_source()
    query = await admin.create_query(source["id"])
    response = await admin.request("DELETE", f"/data-sources/{source['id']}")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "data_source_in_use"
    assert (await admin.request("DELETE", f"/saved-queries/{query['id']}")).status_code == 204
    assert (await admin.request("DELETE", f"/data-sources/{source['id']}")).status_code == 204


async def events_about(servers: Servers, subject_ids: set[str], count: int) -> list[dict[str, Any]]:
    """The events on datasource.events about these subjects, once ``count`` of them are there."""
    async with TopicCapture(servers.kafka, "datasource.events") as capture:
        for _ in range(300):
            await capture.poll()
            events = [e for e in capture.envelopes() if e["subject"]["id"] in subject_ids]
            if len(events) >= count:
                return events
            await asyncio.sleep(0.1)
    raise AssertionError(f"only {len(events)} of {count} events arrived: {events}")


async def test_every_change_publishes_its_event(
    datasource: DatasourceService, tenant: uuid.UUID, servers: Servers
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    created = await admin.create_source()
    path = f"/data-sources/{created['id']}"
    await admin.request("PATCH", path, json={"name": "renamed"})
    await admin.request("PATCH", path, json={"connection_config": {"password": "other"}})
    await admin.request("PATCH", path, json={"name": "renamed"})  # no change: no event
    await admin.request("DELETE", path)

    events = await events_about(servers, {created["id"]}, 4)
    assert [e["type"] for e in events] == [
        "data_source.created",
        "data_source.updated",
        "data_source.updated",
        "data_source.deleted",
    ]
    assert events[0]["data"] == {
        "name": created["name"],
        "type": "postgresql",
        "owner_id": str(admin.actor.user_id),
    }
    assert events[1]["data"]["changed_fields"] == ["name"]
    assert events[2]["data"]["changed_fields"] == ["connection_config"]
    for event in events:
        assert event["tenant_id"] == str(tenant)
        assert event["actor_id"] == str(admin.actor.user_id)
        assert "127.0.0.1" not in json.dumps(event) and "reporter" not in json.dumps(event)


async def test_no_secret_in_any_response_event_or_log_line(
    datasource: DatasourceService,
    tenant: uuid.UUID,
    servers: Servers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = datasource.client(Actor(tenant, ADMIN))
    viewer = datasource.client(Actor(tenant, VIEWER))
    created = await admin.create_source()
    path = f"/data-sources/{created['id']}"
    await admin.request("GET", path)
    await viewer.request("GET", path)
    await admin.request("GET", "/data-sources")
    await admin.request("PATCH", path, json={"connection_config": {"port": 6543}})
    await admin.request("PATCH", path, json={"connection_config": {"port": "no"}})
    await admin.request(
        "PATCH", path, json={"connection_config": {"password": PASSWORD, "bogus": PASSWORD}}
    )
    await admin.request(
        "POST",
        "/data-sources",
        json=a_source(connection_config={"host": "h", "password": PASSWORD, "port": PASSWORD}),
    )
    await admin.request("POST", "/data-sources", json=a_source(name=created["name"]))
    await viewer.request("PATCH", path, json={"connection_config": {"password": PASSWORD}})
    await admin.request("DELETE", path)

    bodies = [response.text for response in admin.responses + viewer.responses]
    assert len(bodies) == 11
    assert all(PASSWORD not in body for body in bodies)
    events = await events_about(servers, {created["id"]}, 3)
    assert PASSWORD not in json.dumps(events)
    lines = [f"{record.getMessage()} {record.__dict__}" for record in caplog.records]
    assert any(created["id"] in line for line in lines)  # the service did log about it
    assert all(PASSWORD not in line for line in lines)


async def test_if_match_refuses_a_stale_update(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    created = await admin.create_source()
    path = f"/data-sources/{created['id']}"
    ok = await admin.request("PATCH", path, json={"name": "one"}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = await admin.request("PATCH", path, json={"name": "two"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "version_conflict"
    assert stale.json()["error"]["details"] == {"current_version": 2}
    for header in (b"*", '"²"'.encode("latin-1"), b'"1.0"'):
        bad = await admin.request("PATCH", path, json={"name": "x"}, headers={"If-Match": header})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_if_match"
    assert (await admin.request("GET", path)).json()["name"] == "one"
