"""Dashboards through the HTTP API: validation, versions, concurrency, publishing, search, import."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from lookout_testing.servers import Servers
from lookout_testing.topics import TopicCapture

from .conftest import DashboardService
from .support import MEMBER, Actor, Client, a_dashboard, permission


def owner_of(service: DashboardService, tenant: uuid.UUID) -> Client:
    return service.client(Actor(tenant, permissions=MEMBER))


async def test_create_and_open(dashboards: DashboardService, tenant: uuid.UUID) -> None:
    owner = owner_of(dashboards, tenant)
    created = await owner.create(name="Revenue")
    assert created["version"] == 1 and created["published"] is False
    assert created["owner_id"] == str(owner.actor.user_id)
    opened = await owner.request("GET", f"/dashboards/{created['id']}")
    assert opened.status_code == 200 and opened.headers["etag"] == '"1"'
    body = opened.json()
    assert body["components"] == created["components"] and body["permission"] == "admin"


async def test_a_bad_body_gets_422_naming_the_field(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    owner = owner_of(dashboards, tenant)
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"name": ""}, ["body", "name"]),
        ({"components": [{"id": "a", "type": "sparkline"}]}, ["body", "components", "0"]),
        (
            {"layout": {"items": [{"component_id": "revenue", "x": 20, "y": 0, "w": 8, "h": 1}]}},
            ["body", "layout", "items", "0"],
        ),
        (
            {"layout": {"items": [{"component_id": "ghost", "x": 0, "y": 0, "w": 1, "h": 1}]}},
            ["body", "layout", "items", "0", "component_id"],
        ),
    ]
    for override, loc in cases:
        response = await owner.request("POST", "/dashboards", json=a_dashboard(**override))
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid"
        assert any(detail["loc"][: len(loc)] == loc for detail in error["details"]), (loc, error)


async def test_a_nul_character_anywhere_in_a_document_is_422_not_500(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    # PostgreSQL's text and jsonb cannot hold U+0000 (the API fuzz found a 500 here).
    owner = owner_of(dashboards, tenant)
    created = await owner.create(name="Clean")
    for override in (
        {"name": "a\x00b"},
        {"tags": ["fin\x00ance"]},
        {"components": [{"id": "note", "type": "text", "markdown": "\x00"}]},
    ):
        body = a_dashboard(**override)
        for method, path, json_body in (
            ("POST", "/dashboards", body),
            ("PUT", f"/dashboards/{created['id']}", {**body, "version": 1}),
            ("POST", "/dashboards/import", {"dashboard": body}),
        ):
            response = await owner.request(method, path, json=json_body)
            assert response.status_code == 422, (method, override, response.text)
            assert response.json()["error"]["code"] == "invalid"


async def test_update_keeps_history_and_restore_brings_back_the_exact_state(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    owner = owner_of(dashboards, tenant)
    first = await owner.create()
    path = f"/dashboards/{first['id']}"
    second_body = a_dashboard(
        name="Second",
        components=[{"id": "notes", "type": "text", "markdown": "hello"}],
        layout={"items": [{"component_id": "notes", "x": 0, "y": 0, "w": 24, "h": 2}]},
        filters=[],
        version=1,
    )
    second = (await owner.request("PUT", path, json=second_body)).json()
    assert second["version"] == 2 and second["components"] != first["components"]

    versions = (await owner.request("GET", f"{path}/versions")).json()
    assert [v["version"] for v in versions] == [2, 1]
    old = (await owner.request("GET", f"{path}/versions/1")).json()
    assert (old["layout"], old["components"], old["filters"]) == (
        first["layout"],
        first["components"],
        first["filters"],
    )

    restored = await owner.request("POST", f"{path}/versions/1/restore", json={"version": 2})
    assert restored.status_code == 200, restored.text
    third = restored.json()
    assert third["version"] == 3
    for field in ("name", "layout", "components", "filters", "tags", "is_public", "description"):
        assert third[field] == first[field], field
    missing = await owner.request("POST", f"{path}/versions/9/restore")
    assert missing.status_code == 404


async def test_stale_update_is_409_and_changes_nothing(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    owner = owner_of(dashboards, tenant)
    created = await owner.create()
    path = f"/dashboards/{created['id']}"
    assert (
        await owner.request("PUT", path, json=a_dashboard(name="v2", version=1))
    ).status_code == 200
    stale = await owner.request("PUT", path, json=a_dashboard(name="lost", version=1))
    assert stale.status_code == 409 and stale.json()["error"]["details"]["current_version"] == 2
    by_header = await owner.request(
        "PUT", path, json=a_dashboard(name="v3"), headers={"If-Match": '"2"'}
    )
    assert by_header.status_code == 200 and by_header.json()["version"] == 3
    no_base = await owner.request("PUT", path, json=a_dashboard(name="v4"))
    assert no_base.status_code == 422
    current = (await owner.request("GET", path)).json()
    assert current["name"] == "v3" and current["version"] == 3


async def test_two_concurrent_updates_exactly_one_wins(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    owner = owner_of(dashboards, tenant)
    for _ in range(5):
        created = await owner.create()
        path = f"/dashboards/{created['id']}"
        bodies = [a_dashboard(name=f"writer {i}", version=1) for i in range(2)]
        responses = await asyncio.gather(
            *(owner.request("PUT", path, json=body) for body in bodies)
        )
        assert sorted(r.status_code for r in responses) == [200, 409]
        winner = next(r.json() for r in responses if r.status_code == 200)
        current = (await owner.request("GET", path)).json()
        assert current["version"] == 2 and current["name"] == winner["name"]
        assert len((await owner.request("GET", f"{path}/versions")).json()) == 2


async def test_publish_and_unpublish(dashboards: DashboardService, tenant: uuid.UUID) -> None:
    owner = owner_of(dashboards, tenant)
    created = await owner.create()
    path = f"/dashboards/{created['id']}"
    published = (await owner.request("POST", f"{path}/publish")).json()
    assert published["published"] is True and published["published_at"] is not None
    again = (await owner.request("POST", f"{path}/publish")).json()
    assert again["published_at"] == published["published_at"]
    listed = (await owner.request("GET", "/dashboards", params={"published": "true"})).json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    draft = (await owner.request("POST", f"{path}/unpublish")).json()
    assert draft["published"] is False and draft["published_at"] is None


async def test_search_filters_sorts_and_pages(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    owner = owner_of(dashboards, tenant)
    other = owner_of(dashboards, tenant)
    names = [f"Board {i:02d}" for i in range(7)]
    for i, name in enumerate(names):
        tags = ["even"] if i % 2 == 0 else ["odd"]
        if i == 3:
            tags.append("special")
        await owner.create(
            name=name, tags=tags, description="quarterly revenue" if i < 2 else "costs"
        )
    await other.create(name="Someone else's", is_public=True, description="elsewhere")

    async def names_of(client: Client, **params: Any) -> list[str]:
        response = await client.request("GET", "/dashboards", params=params)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert await names_of(owner, sort="name", limit=200) == [*names, "Someone else's"]
    assert await names_of(owner, q="REVENUE", sort="name") == names[:2]
    assert await names_of(owner, tags=["special", "even"], sort="name") == [
        names[i] for i in (0, 2, 3, 4, 6)
    ]
    assert await names_of(owner, tags_all=["odd", "special"]) == [names[3]]
    assert await names_of(owner, owner_id=str(other.actor.user_id)) == ["Someone else's"]
    assert await names_of(other, sort="-name") == ["Someone else's"]

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "-updated_at", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await owner.request("GET", "/dashboards", params=params)).json()
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted([*names, "Someone else's"]) and len(seen) == len(set(seen))
    bad = await owner.request("GET", "/dashboards", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"


async def test_export_then_import_remaps_ids(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    owner = owner_of(dashboards, tenant)
    original = await owner.create()
    exported = (await owner.request("GET", f"/dashboards/{original['id']}/export")).json()
    assert exported["format"] == "lookout.dashboard/v1"
    old_query, new_query = str(uuid.uuid4()), str(uuid.uuid4())
    exported["dashboard"]["components"][0]["saved_query_id"] = old_query
    imported = await owner.request(
        "POST", "/dashboards/import", json={**exported, "saved_query_ids": {old_query: new_query}}
    )
    assert imported.status_code == 201, imported.text
    copy = imported.json()
    assert (
        copy["id"] != original["id"] and copy["name"] == original["name"] and copy["version"] == 1
    )
    old_ids = {c["id"] for c in original["components"]}
    new_ids = {c["id"] for c in copy["components"]}
    assert old_ids.isdisjoint(new_ids)
    assert {item["component_id"] for item in copy["layout"]["items"]} == new_ids
    chart = copy["components"][0]
    assert chart["saved_query_id"] == new_query
    assert set(chart["parameter_bindings"].values()) == {f["id"] for f in copy["filters"]}


async def test_events_carry_actor_and_session(
    dashboards: DashboardService, tenant: uuid.UUID, servers: Servers
) -> None:
    owner = owner_of(dashboards, tenant)
    created = await owner.create()
    path = f"/dashboards/{created['id']}"
    await owner.request("GET", path)
    await owner.request("PUT", path, json=a_dashboard(name="changed", version=1))
    await owner.request("POST", f"{path}/publish")
    viewer = Actor(tenant, permissions=MEMBER)
    await owner.request(
        "POST", f"{path}/grants", json={"user_id": str(viewer.user_id), "permission": "view"}
    )
    await owner.request("DELETE", path)
    expected = [
        "dashboard.created",
        "dashboard.viewed",
        "dashboard.updated",
        "dashboard.published",
        "dashboard.shared",
        "dashboard.deleted",
    ]

    async with TopicCapture(servers.kafka, "dashboard.events") as capture:

        async def mine() -> list[dict[str, Any]]:
            await capture.poll()
            return [e for e in capture.envelopes() if e["subject"]["id"] == created["id"]]

        for _ in range(200):
            events = await mine()
            if len(events) >= len(expected):
                break
            await asyncio.sleep(0.1)
    assert [e["type"] for e in events] == expected
    for event in events:
        assert event["actor_id"] == str(owner.actor.user_id)
        assert event["session_id"] == owner.actor.session_id
        assert event["tenant_id"] == str(tenant)
    viewed = events[1]
    assert viewed["data"] == {"version": 1}
    assert "layout" not in json.dumps(events[0]["data"])


async def test_role_permission_without_grants_lists_everything_it_reads(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    owner = owner_of(dashboards, tenant)
    ids = {(await owner.create())["id"] for _ in range(3)}
    reader = dashboards.client(Actor(tenant, permissions=[permission("read")]))
    listed = (await reader.request("GET", "/dashboards", params={"limit": 200})).json()
    assert {item["id"] for item in listed["items"]} == ids


async def test_sharing_errors(dashboards: DashboardService, tenant: uuid.UUID) -> None:
    owner = owner_of(dashboards, tenant)
    board = await owner.create()
    path = f"/dashboards/{board['id']}"
    sharer = Actor(tenant, permissions=MEMBER)
    grant = {"user_id": str(sharer.user_id), "permission": "share"}
    assert (await owner.request("POST", f"{path}/grants", json=grant)).status_code == 201
    client = dashboards.client(sharer)
    above = await client.request(
        "POST", f"{path}/grants", json={"user_id": str(uuid.uuid4()), "permission": "admin"}
    )
    assert above.status_code == 403 and above.json()["error"]["code"] == "forbidden"
    both = await owner.request(
        "POST",
        f"{path}/grants",
        json={"user_id": str(uuid.uuid4()), "role_id": str(uuid.uuid4()), "permission": "view"},
    )
    assert both.status_code == 422
    unknown = await owner.request("DELETE", f"{path}/grants/{uuid.uuid4()}")
    assert unknown.status_code == 404
    grants = (await owner.request("GET", f"{path}/grants")).json()
    assert [g["user_id"] for g in grants] == [str(sharer.user_id)]


async def test_bad_if_match_and_missing_version(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    owner = owner_of(dashboards, tenant)
    board = await owner.create()
    path = f"/dashboards/{board['id']}"
    garbled = await owner.request("PUT", path, json=a_dashboard(), headers={"If-Match": "abc"})
    assert garbled.status_code == 422 and garbled.json()["error"]["code"] == "invalid_if_match"
    disagree = await owner.request(
        "PUT", path, json=a_dashboard(version=1), headers={"If-Match": '"2"'}
    )
    assert disagree.status_code == 422 and disagree.json()["error"]["code"] == "version_mismatch"
    assert (await owner.request("GET", f"{path}/versions/7")).status_code == 404
    assert (await owner.request("GET", path)).json()["version"] == 1
