"""Who may do what with a dashboard, through the real HTTP API: every kind of caller by operation."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from .conftest import DashboardService
from .support import MEMBER, Actor, Client, a_dashboard, permission

# Expected outcome per operation: HTTP status, or for "list" whether the dashboard is listed.
OPERATIONS = ("view", "list", "update", "delete", "share", "restore")
MATRIX: dict[str, dict[str, Any]] = {
    "owner": {
        "view": 200,
        "list": True,
        "update": 200,
        "delete": 204,
        "share": 201,
        "restore": 200,
    },
    "grant view": {
        "view": 200,
        "list": True,
        "update": 403,
        "delete": 403,
        "share": 403,
        "restore": 403,
    },
    "grant edit": {
        "view": 200,
        "list": True,
        "update": 200,
        "delete": 403,
        "share": 403,
        "restore": 200,
    },
    "grant share": {
        "view": 200,
        "list": True,
        "update": 200,
        "delete": 403,
        "share": 201,
        "restore": 200,
    },
    "grant admin": {
        "view": 200,
        "list": True,
        "update": 200,
        "delete": 204,
        "share": 201,
        "restore": 200,
    },
    "role grant edit": {
        "view": 200,
        "list": True,
        "update": 200,
        "delete": 403,
        "share": 403,
        "restore": 200,
    },
    "role permission, tags match": {
        "view": 200,
        "list": True,
        "update": 200,
        "delete": 403,
        "share": 403,
        "restore": 200,
    },
    "role permission, tags differ": {
        "view": 404,
        "list": False,
        "update": 404,
        "delete": 404,
        "share": 404,
        "restore": 404,
    },
    "role permission delete": {
        "view": 200,
        "list": True,
        "update": 403,
        "delete": 204,
        "share": 403,
        "restore": 403,
    },
    "public, other user": {
        "view": 200,
        "list": True,
        "update": 403,
        "delete": 403,
        "share": 403,
        "restore": 403,
    },
    "other user": {
        "view": 404,
        "list": False,
        "update": 404,
        "delete": 404,
        "share": 404,
        "restore": 404,
    },
    "other tenant": {
        "view": 404,
        "list": False,
        "update": 404,
        "delete": 404,
        "share": 404,
        "restore": 404,
    },
}
CASES = [(who, op, MATRIX[who][op]) for who in MATRIX for op in OPERATIONS]


async def arrange(
    service: DashboardService, tenant: uuid.UUID, who: str
) -> tuple[Client, dict[str, Any]]:
    """A dashboard (at version 2, so version 1 can be restored) and the caller described by ``who``."""
    owner = service.client(Actor(tenant, permissions=MEMBER))
    dashboard = await owner.create(is_public=who.startswith("public"))
    changed = a_dashboard(name="Renamed", is_public=dashboard["is_public"], version=1)
    assert (
        await owner.request("PUT", f"/dashboards/{dashboard['id']}", json=changed)
    ).status_code == 200

    if who == "owner":
        return owner, dashboard
    if who == "other tenant":
        return service.client(Actor(uuid.uuid4(), permissions=[permission("admin")])), dashboard
    actor = Actor(tenant, permissions=list(MEMBER))
    if who.startswith("grant "):
        grant = {"user_id": str(actor.user_id), "permission": who.removeprefix("grant ")}
        assert (
            await owner.request("POST", f"/dashboards/{dashboard['id']}/grants", json=grant)
        ).status_code == 201
    elif who == "role grant edit":
        grant = {"role_id": str(actor.role_id), "permission": "edit"}
        assert (
            await owner.request("POST", f"/dashboards/{dashboard['id']}/grants", json=grant)
        ).status_code == 201
    elif who == "role permission, tags match":
        actor.permissions.append(permission("update", {"tags_any": ["finance", "ops"]}))
    elif who == "role permission, tags differ":
        actor.permissions.append(permission("update", {"tags_any": ["hr"]}))
    elif who == "role permission delete":
        actor.permissions += [
            permission("read", {"owner_only": True}),
            permission("read", {"ids": [dashboard["id"]]}),
            permission("delete"),
        ]
    return service.client(actor), dashboard


async def perform(client: Client, dashboard: dict[str, Any], operation: str) -> Any:
    path = f"/dashboards/{dashboard['id']}"
    actions: dict[str, Callable[[], Awaitable[Any]]] = {
        "view": lambda: client.request("GET", path),
        "update": lambda: client.request(
            "PUT",
            path,
            json=a_dashboard(name="Mine now", is_public=dashboard["is_public"], version=2),
        ),
        "delete": lambda: client.request("DELETE", path),
        "share": lambda: client.request(
            "POST", f"{path}/grants", json={"user_id": str(uuid.uuid4()), "permission": "view"}
        ),
        "restore": lambda: client.request("POST", f"{path}/versions/1/restore"),
    }
    if operation == "list":
        response = await client.request("GET", "/dashboards", params={"limit": 200})
        assert response.status_code == 200, response.text
        return dashboard["id"] in {item["id"] for item in response.json()["items"]}
    response = await actions[operation]()
    if response.status_code >= 400:
        assert set(response.json()["error"]) >= {"code", "message"}
    return response.status_code


@pytest.mark.parametrize(
    ("who", "operation", "expected"), CASES, ids=[f"{w}-{o}" for w, o, _ in CASES]
)
async def test_access(
    dashboards: DashboardService, tenant: uuid.UUID, who: str, operation: str, expected: Any
) -> None:
    client, dashboard = await arrange(dashboards, tenant, who)
    assert await perform(client, dashboard, operation) == expected


async def test_without_a_token_everything_is_401(dashboards: DashboardService) -> None:
    for method, path in (
        ("GET", "/dashboards"),
        ("GET", f"/dashboards/{uuid.uuid4()}"),
        ("POST", "/dashboards"),
    ):
        response = await dashboards.http.request(method, path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] in ("missing_token", "invalid_token")


async def test_a_role_without_create_cannot_create(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    client = dashboards.client(Actor(tenant, permissions=[permission("read")]))
    response = await client.request("POST", "/dashboards", json=a_dashboard())
    assert response.status_code == 403
