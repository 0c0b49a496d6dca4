"""Who may do what with a dashboard: every route of the dashboard service by every kind of caller,
through the real HTTP API against objects made through it (format: ``lookout_testing.access``).

Each actor meets a dashboard of its own (at version 2, with a spare view grant to revoke), made by
the owner: ``grant *`` hold a grant of that level, ``role grant edit`` holds it through its role,
``role update, tags …`` hold ``dashboard:update`` with a ``tags_any`` condition,
``role read+delete`` holds ``read`` on that id and ``delete``; ``editor`` holds identity's built-in
editor role (on another user's dashboard); ``same tenant`` has no dashboard permission at all;
``other tenant`` is an admin of dashboards in its own tenant; ``…, public`` meet a public one (the
other tenant's is a plain member there, whose searches are narrowed to its own, granted and public
dashboards, so that a public dashboard of another tenant could leak into them); ``service token``
is a service's (the alert service's, naming the tenant), which is no user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from lookout_dashboard.app import create_app
from lookout_identity.builtin_roles import BUILTIN_ROLES
from lookout_testing.access import (
    HIDDEN,
    NO_TOKEN,
    SEES,
    Cell,
    Matrix,
    Row,
    check_public_routes,
    check_row,
    routes_of,
)

from .conftest import DashboardService
from .support import MEMBER, Actor, a_dashboard, permission

# identity's built-in editor, as a new tenant gets it: it changes, deletes and shares its own only.
EDITOR = [
    permission(action, conditions)
    for resource, action, conditions in BUILTIN_ROLES["editor"][1]
    if resource == "dashboard"
]

ACTORS = (
    "owner",
    "grant view",
    "grant edit",
    "grant share",
    "grant admin",
    "role grant edit",
    "role update, tags match",
    "role update, tags differ",
    "role read+delete",
    "editor",
    "same tenant",
    "same tenant, public",
    "other tenant",
    "other tenant, public",
    "service token",
    NO_TOKEN,
)
D = "/dashboards/{dashboard_id}"


def _update(cell: Cell) -> dict[str, Any]:
    body = a_dashboard(name="Changed", is_public=cell.facts["is_public"], version=2)
    return {"json": body}


def _grant(cell: Cell) -> dict[str, Any]:
    return {"json": {"user_id": str(uuid.uuid4()), "permission": "view"}}


def _search(cell: Cell) -> dict[str, Any]:
    return {"params": {"q": cell.facts["name"]}}


def _new(cell: Cell) -> dict[str, Any]:
    return {"json": a_dashboard()}


def _import(cell: Cell) -> dict[str, Any]:
    content = a_dashboard()
    return {"json": {"format": "lookout.dashboard/v1", "dashboard": content}}


# Levels: owner admin; grants their own; role grant edit, tags match: edit; tags differ: none;
# read+delete: view (+ delete); same tenant: none (public: view); other tenant: none.
#   own  gv   ge   gs   ga   rge  tm   td   rdel edit st   stp  ot   otp  svc  none
VIEW = (200, 200, 200, 200, 200, 200, 200, 404, 200, 200, 404, 200, 404, 404, 401, 401)
EDIT = (200, 403, 200, 200, 200, 200, 200, 404, 403, 403, 404, 403, 404, 404, 401, 401)
SHARE = (200, 403, 403, 200, 200, 403, 403, 404, 403, 403, 404, 403, 404, 404, 401, 401)
SHARED = (201, 403, 403, 201, 201, 403, 403, 404, 403, 403, 404, 403, 404, 404, 401, 401)
UNSHARED = (204, 403, 403, 204, 204, 403, 403, 404, 403, 403, 404, 403, 404, 404, 401, 401)
DELETE = (204, 403, 403, 403, 204, 403, 403, 404, 204, 403, 404, 403, 404, 404, 401, 401)
CREATE = (201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 403, 403, 201, 201, 401, 401)
LIST = (
    SEES,
    SEES,
    SEES,
    SEES,
    SEES,
    SEES,
    SEES,
    HIDDEN,
    SEES,
    SEES,
    HIDDEN,
    SEES,
    HIDDEN,
    HIDDEN,
    401,
    401,
)
ANYONE = (200,) * len(ACTORS)

MATRIX = Matrix(
    "dashboard",
    ACTORS,
    Row("GET", "/schemas/document", ANYONE),
    Row("POST", "/dashboards", CREATE, request=_new),
    Row("GET", "/dashboards", LIST, request=_search, lists="dashboard_id"),
    Row("GET", D, VIEW),
    Row("PUT", D, EDIT, request=_update, fresh=True),
    Row("DELETE", D, DELETE, fresh=True),
    Row("POST", D + "/publish", EDIT),
    Row("POST", D + "/unpublish", EDIT),
    Row("GET", D + "/versions", VIEW),
    Row("GET", D + "/versions/{version}", VIEW),
    Row("POST", D + "/versions/{version}/restore", EDIT, fresh=True),
    Row("GET", D + "/grants", SHARE),
    Row("POST", D + "/grants", SHARED, request=_grant),
    Row("DELETE", D + "/grants/{grant_id}", UNSHARED, fresh=True),
    Row("GET", D + "/export", VIEW),
    Row("POST", "/dashboards/import", CREATE, request=_import),
    Row("GET", D + "/data", VIEW),
)


@dataclass
class World:
    service: DashboardService
    tenant: uuid.UUID = field(default_factory=uuid.uuid4)
    owner: Actor = field(init=False)
    cells: dict[str, Cell] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.owner = Actor(self.tenant, permissions=list(MEMBER))

    async def arrange(self, actor: str, fresh: bool) -> Cell:
        if not fresh and actor in self.cells:
            return self.cells[actor]
        cell = await self._arrange(actor)
        if not fresh:
            self.cells[actor] = cell
        return cell

    async def _arrange(self, actor: str) -> Cell:
        owner = self.service.client(self.owner)
        public = actor.endswith(", public")
        dashboard = await owner.create(is_public=public)
        path = f"/dashboards/{dashboard['id']}"
        renamed = a_dashboard(name=dashboard["name"], is_public=public, version=1)
        assert (await owner.request("PUT", path, json=renamed)).status_code == 200
        spare = await owner.request(
            "POST", f"{path}/grants", json={"user_id": str(uuid.uuid4()), "permission": "view"}
        )
        assert spare.status_code == 201, spare.text
        caller = await self._caller(actor, dashboard["id"])
        headers = {} if caller is None else self.service.client(caller).headers
        if actor == "service token":
            token = self.service.keys.service_token("alert", self.tenant)
            headers = {"Authorization": f"Bearer {token}"}
        return Cell(
            headers,
            params={
                "dashboard_id": dashboard["id"],
                "version": "1",
                "grant_id": spare.json()["id"],
            },
            facts={"is_public": public, "name": dashboard["name"]},
        )

    async def _caller(self, actor: str, dashboard_id: str) -> Actor | None:
        owner = self.service.client(self.owner)
        grants = f"/dashboards/{dashboard_id}/grants"
        member = Actor(self.tenant, permissions=list(MEMBER))
        if actor in (NO_TOKEN, "service token"):
            return None
        if actor == "owner":
            return self.owner
        if actor.startswith("grant "):
            grant = {"user_id": str(member.user_id), "permission": actor.removeprefix("grant ")}
            assert (await owner.request("POST", grants, json=grant)).status_code == 201
            return member
        if actor == "role grant edit":
            grant = {"role_id": str(member.role_id), "permission": "edit"}
            assert (await owner.request("POST", grants, json=grant)).status_code == 201
            return member
        if actor.startswith("role update, tags "):
            tags = ["finance", "ops"] if actor.endswith("match") else ["hr"]
            member.permissions.append(permission("update", {"tags_any": tags}))
            return member
        if actor == "role read+delete":
            member.permissions += [
                permission("read", {"ids": [dashboard_id]}),
                permission("delete"),
            ]
            return member
        if actor == "editor":  # identity's built-in editor, on another user's dashboard
            return Actor(self.tenant, permissions=list(EDITOR))
        if actor.startswith("same tenant"):
            return Actor(self.tenant, permissions=[])
        if actor == "other tenant, public":
            return Actor(uuid.uuid4(), permissions=list(MEMBER))
        assert actor == "other tenant", actor
        return Actor(uuid.uuid4(), permissions=[permission("admin")])


@pytest.fixture(scope="module")
def world(dashboards: DashboardService) -> World:
    return World(dashboards)


@pytest.mark.parametrize("row", MATRIX.rows, ids=MATRIX.ids)
async def test_access(world: World, row: Row) -> None:
    await check_row(world.service.http, MATRIX, row, world.arrange)


async def test_health_metrics_and_docs_answer_without_a_token(dashboards: DashboardService) -> None:
    await check_public_routes(dashboards.http, routes_of(create_app()))
