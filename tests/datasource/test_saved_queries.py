"""Saved queries through the HTTP API: CRUD, typed parameters and their validation, visibility
(owner, public, role permissions), the tenant's data sources only, and the events of each change."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from lookout_testing.servers import Servers

from .conftest import DatasourceService
from .support import ADMIN, EDITOR, VIEWER, Actor, Client, a_query, permission
from .test_data_sources import events_about


async def a_source_of(datasource: DatasourceService, tenant: uuid.UUID) -> str:
    admin = datasource.client(Actor(tenant, ADMIN))
    return str((await admin.create_source())["id"])


async def test_create_get_list_update_delete(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    source_id = await a_source_of(datasource, tenant)
    editor = datasource.client(Actor(tenant, EDITOR))
    created = await editor.create_query(source_id, name="Revenue")
    assert created["owner_id"] == str(editor.actor.user_id)
    assert created["permission"] == "admin" and created["version"] == 1
    assert created["parameters"][0] == {
        "name": "region",
        "type": "enum",
        "title": None,
        "required": False,
        "default": "eu",
        "options": ["eu", "us"],
    }
    path = f"/saved-queries/{created['id']}"
    assert (await editor.request("GET", path)).json() == created

    changed = await editor.request(
        "PATCH", path, json={"query_text": "SELECT 1", "description": None}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["query_text"] == "SELECT 1" and body["description"] is None
    assert body["name"] == "Revenue" and body["parameters"] == created["parameters"]
    assert body["version"] == 2

    listed = (await editor.request("GET", "/saved-queries")).json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    by_source = await editor.request(
        "GET", "/saved-queries", params={"data_source_id": str(uuid.uuid4())}
    )
    assert by_source.json()["items"] == []
    by_text = await editor.request("GET", "/saved-queries", params={"q": "reven"})
    assert [item["id"] for item in by_text.json()["items"]] == [created["id"]]

    assert (await editor.request("DELETE", path)).status_code == 204
    assert (await editor.request("GET", path)).status_code == 404


async def test_pages_by_name(datasource: DatasourceService, tenant: uuid.UUID) -> None:
    source_id = await a_source_of(datasource, tenant)
    editor = datasource.client(Actor(tenant, EDITOR))
    names = [f"query {i:02d}" for i in range(5)]
    for name in reversed(names):
        await editor.create_query(source_id, name=name)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await editor.request("GET", "/saved-queries", params=params)).json()
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == names


@pytest.mark.parametrize(
    "parameters",
    [
        [{"name": "1st", "type": "text"}],
        [{"name": "x; DROP TABLE t", "type": "text"}],
        [{"name": "a", "type": "text"}, {"name": "a", "type": "number"}],
        [{"name": "a", "type": "color"}],
        [{"name": "a", "type": "number", "default": "5"}],
        [{"name": "a", "type": "number", "default": True}],
        [{"name": "a", "type": "text", "default": 5}],
        [{"name": "a", "type": "date", "default": "2026-13-01"}],
        [{"name": "a", "type": "datetime", "default": "yesterday"}],
        [{"name": "a", "type": "enum"}],
        [{"name": "a", "type": "enum", "options": ["x", "y"], "default": "z"}],
        [{"name": "a", "type": "enum", "options": ["x", "x"]}],
        [{"name": "a", "type": "list", "options": [1, 2], "default": [3]}],
        [{"name": "a", "type": "list", "default": "x"}],
        [{"name": "a", "type": "text", "options": ["x"]}],
        [{"name": "a", "type": "text", "unknown": 1}],
        [{"name": "a", "type": "text", "default": "nul \u0000 inside"}],
        [{"name": "a", "type": "list", "options": ["x", "\u0000"]}],
    ],
)
async def test_bad_parameters_are_422(
    datasource: DatasourceService, tenant: uuid.UUID, parameters: list[dict[str, Any]]
) -> None:
    source_id = await a_source_of(datasource, tenant)
    editor = datasource.client(Actor(tenant, EDITOR))
    response = await editor.request(
        "POST", "/saved-queries", json=a_query(source_id, parameters=parameters)
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert all(detail["loc"][:2] == ["body", "parameters"] for detail in error["details"])


async def test_text_postgresql_cannot_store_is_422_not_500(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    source_id = await a_source_of(datasource, tenant)
    editor = datasource.client(Actor(tenant, EDITOR))
    for field in ("description", "query_text"):
        body = a_query(source_id, **{field: "a \u0000 b"})
        response = await editor.request("POST", "/saved-queries", json=body)
        assert response.status_code == 422, (field, response.text)
    listed = await editor.request("GET", "/saved-queries", params={"q": "\u0000"})
    assert listed.status_code == 422


async def test_every_parameter_type_with_a_good_default(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    source_id = await a_source_of(datasource, tenant)
    editor = datasource.client(Actor(tenant, EDITOR))
    parameters = [
        {"name": "label", "type": "text", "default": "it's"},
        {"name": "n", "type": "number", "default": 2.5},
        {"name": "day", "type": "date", "default": "2026-12-03"},
        {"name": "at", "type": "datetime", "default": "2026-12-03T10:00:00+00:00"},
        {"name": "region", "type": "enum", "options": ["eu", 7], "default": 7},
        {"name": "ids", "type": "list", "default": [1, "two"], "required": True},
        {"name": "picked", "type": "list", "options": ["a", "b"], "default": ["b"]},
        {"name": "empty", "type": "text"},
    ]
    created = await editor.create_query(source_id, parameters=parameters)
    assert [(p["name"], p["default"]) for p in created["parameters"]] == [
        (p["name"], p.get("default")) for p in parameters
    ]


async def test_the_data_source_must_be_the_tenants(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    editor = datasource.client(Actor(tenant, EDITOR))
    elsewhere = await a_source_of(datasource, uuid.uuid4())
    for source_id in (elsewhere, str(uuid.uuid4())):
        response = await editor.request("POST", "/saved-queries", json=a_query(source_id))
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "unknown_data_source"
    mine = await editor.create_query(await a_source_of(datasource, tenant))
    moved = await editor.request(
        "PATCH", f"/saved-queries/{mine['id']}", json={"data_source_id": elsewhere}
    )
    assert moved.status_code == 422 and moved.json()["error"]["code"] == "unknown_data_source"
    # A caller who cannot see the tenant's source cannot use it either.
    blind = datasource.client(Actor(tenant, [permission("saved_query", "create")]))
    response = await blind.request("POST", "/saved-queries", json=a_query(mine["data_source_id"]))
    assert response.status_code == 422


async def test_visibility_and_rights(datasource: DatasourceService, tenant: uuid.UUID) -> None:
    source_id = await a_source_of(datasource, tenant)
    owner = datasource.client(Actor(tenant, EDITOR))
    private = await owner.create_query(source_id, is_public=False)
    public = await owner.create_query(source_id, is_public=True)
    private_path, public_path = f"/saved-queries/{private['id']}", f"/saved-queries/{public['id']}"

    # Only public queries for a caller without saved_query permissions.
    outsider: Client = datasource.client(Actor(tenant, [permission("data_source", "read")]))
    assert (await outsider.request("GET", private_path)).status_code == 404
    assert (await outsider.request("DELETE", private_path)).status_code == 404
    seen = await outsider.request("GET", public_path)
    assert seen.status_code == 200 and seen.json()["permission"] == "view"
    listed = (await outsider.request("GET", "/saved-queries")).json()["items"]
    assert [item["id"] for item in listed] == [public["id"]]
    denied = await outsider.request("PATCH", public_path, json={"name": "mine"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert (await outsider.request("DELETE", public_path)).status_code == 403
    no_create = await outsider.request("POST", "/saved-queries", json=a_query(source_id))
    assert no_create.status_code == 403

    # Another editor reads everything (the role says read) but changes only its own.
    colleague = datasource.client(Actor(tenant, EDITOR))
    assert (await colleague.request("GET", private_path)).json()["permission"] == "view"
    assert (await colleague.request("PATCH", private_path, json={"name": "x"})).status_code == 403
    assert (await colleague.request("DELETE", private_path)).status_code == 403

    # An admin of saved queries may do everything; a viewer sees and runs, nothing more.
    admin = datasource.client(Actor(tenant, ADMIN))
    assert (
        await admin.request("PATCH", private_path, json={"name": "by admin"})
    ).status_code == 200
    viewer = datasource.client(Actor(tenant, VIEWER))
    assert (await viewer.request("GET", private_path)).json()["permission"] == "view"

    # Editing without share rights may not flip is_public.
    updater = datasource.client(
        Actor(tenant, [permission("saved_query", "update"), permission("data_source", "read")])
    )
    assert (await updater.request("PATCH", private_path, json={"name": "ok"})).status_code == 200
    flip = await updater.request("PATCH", private_path, json={"is_public": True})
    assert flip.status_code == 403

    # Another tenant's: 404 whatever its rights.
    stranger = datasource.client(Actor(uuid.uuid4(), ADMIN))
    for path in (private_path, public_path):
        assert (await stranger.request("GET", path)).status_code == 404
        assert (await stranger.request("PATCH", path, json={"name": "x"})).status_code == 404
    assert (await stranger.request("GET", "/saved-queries")).json()["items"] == []
    assert (await owner.request("DELETE", private_path)).status_code == 204


async def test_every_change_publishes_its_event(
    datasource: DatasourceService, tenant: uuid.UUID, servers: Servers
) -> None:
    source_id = await a_source_of(datasource, tenant)
    editor = datasource.client(Actor(tenant, EDITOR))
    created = await editor.create_query(source_id)
    path = f"/saved-queries/{created['id']}"
    await editor.request("PATCH", path, json={"is_public": True, "query_text": "SELECT 2"})
    await editor.request("PATCH", path, json={"is_public": True})  # no change: no event
    await editor.request("DELETE", path)
    events = await events_about(servers, {created["id"]}, 3)
    assert [e["type"] for e in events] == [
        "saved_query.created",
        "saved_query.updated",
        "saved_query.deleted",
    ]
    assert events[0]["data"] == {
        "name": created["name"],
        "data_source_id": source_id,
        "owner_id": str(editor.actor.user_id),
        "is_public": False,
    }
    assert events[1]["data"]["changed_fields"] == ["query_text", "is_public"]
    assert all(e["actor_id"] == str(editor.actor.user_id) for e in events)
    assert "sum(amount)" not in str(events)


async def test_if_match_refuses_a_stale_update(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    editor = datasource.client(Actor(tenant, EDITOR))
    created = await editor.create_query(await a_source_of(datasource, tenant))
    path = f"/saved-queries/{created['id']}"
    ok = await editor.request("PATCH", path, json={"name": "one"}, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = await editor.request("PATCH", path, json={"name": "two"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "version_conflict"
    assert (await editor.request("GET", path)).json()["name"] == "one"
