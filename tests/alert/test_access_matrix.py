"""Who may do what with an alert: every route of the alert service by every kind of caller, through
the real HTTP API against alerts made through it (format: ``lookout_testing.access``).

Each actor meets an alert of its own, made by the ``owner`` (an editor: ``alert:update`` and
``delete`` on its own). ``admin`` holds ``alert:admin``; ``editor`` is another editor of the tenant
(reads every alert, changes only its own); ``granted`` holds ``read`` and ``update`` naming exactly
that alert by id; ``viewer`` holds ``alert:read``; ``same tenant`` has no alert permission;
``other tenant`` is an alert admin of its own tenant; ``service token`` is a service's (the alert
service's own, naming the tenant), which is no user. Evaluating now and a test notification need
``update`` (the alert's saved query is not there: the evaluation answers 200 with state error)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from lookout_alert.app import create_app
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

from .conftest import AlertService
from .support import ADMIN, EDITOR, VIEWER, Actor, an_alert, permission

ACTORS = (
    "owner",
    "admin",
    "editor",
    "granted",
    "viewer",
    "same tenant",
    "other tenant",
    "service token",
    NO_TOKEN,
)
A = "/alerts/{alert_id}"

#         own  adm  edi  gra  vie  same oth  svc  none
VIEW = (200, 200, 200, 200, 200, 404, 404, 401, 401)
UPDATE = (200, 200, 403, 200, 403, 404, 404, 401, 401)
DELETE = (204, 204, 403, 403, 403, 404, 404, 401, 401)
CREATE = (201, 201, 201, 403, 403, 403, 201, 401, 401)
LIST = (SEES, SEES, SEES, SEES, SEES, HIDDEN, HIDDEN, 401, 401)
ANYONE = (200,) * len(ACTORS)


def _new(cell: Cell) -> dict[str, Any]:
    return {"json": an_alert(query_id=cell.facts["query_id"])}


def _rename(cell: Cell) -> dict[str, Any]:
    return {"json": {"name": f"renamed {uuid.uuid4().hex[:6]}"}}


MATRIX = Matrix(
    "alert",
    ACTORS,
    Row("GET", "/schemas/condition", ANYONE),
    Row("POST", "/alerts", CREATE, request=_new),
    Row("GET", "/alerts", LIST, lists="alert_id"),
    Row("GET", A, VIEW),
    Row("PATCH", A, UPDATE, request=_rename),
    Row("DELETE", A, DELETE, fresh=True),
    Row("POST", A + "/evaluate", UPDATE),
    Row("POST", A + "/test-notification", UPDATE),
    Row("GET", A + "/history", VIEW),
)


@dataclass
class World:
    service: AlertService
    tenant: uuid.UUID = field(default_factory=uuid.uuid4)
    owner: Actor = field(init=False)
    cells: dict[str, Cell] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.owner = Actor(self.tenant, list(EDITOR))

    async def arrange(self, actor: str, fresh: bool) -> Cell:
        if not fresh and actor in self.cells:
            return self.cells[actor]
        alert = await self.service.client(self.owner).create_alert()
        caller = self._caller(actor, alert["id"])
        headers = {} if caller is None else dict(self.service.client(caller).headers)
        if actor == "service token":
            token = self.service.keys.service_token("alert", self.tenant)
            headers = {"Authorization": f"Bearer {token}"}
        tenant = self.tenant if caller is None else caller.tenant_id
        query_id = await self.service.query_of(tenant)  # one the actor's tenant has
        cell = Cell(headers, params={"alert_id": alert["id"]}, facts={"query_id": query_id})
        if not fresh:
            self.cells[actor] = cell
        return cell

    def _caller(self, actor: str, alert_id: str) -> Actor | None:
        if actor in (NO_TOKEN, "service token"):
            return None
        if actor == "owner":
            return self.owner
        if actor == "admin":
            return Actor(self.tenant, list(ADMIN))
        if actor == "editor":
            return Actor(self.tenant, list(EDITOR))
        if actor == "granted":
            return Actor(
                self.tenant,
                [
                    permission("alert", "read", {"ids": [alert_id]}),
                    permission("alert", "update", {"ids": [alert_id]}),
                ],
            )
        if actor == "viewer":
            return Actor(self.tenant, list(VIEWER))
        if actor == "same tenant":
            return Actor(self.tenant, [])
        assert actor == "other tenant", actor
        return Actor(uuid.uuid4(), list(ADMIN))


@pytest.fixture(scope="module")
def world(alert_service: AlertService) -> World:
    return World(alert_service)


@pytest.mark.parametrize("row", MATRIX.rows, ids=MATRIX.ids)
async def test_access(world: World, row: Row) -> None:
    await check_row(world.service.http, MATRIX, row, world.arrange)


async def test_health_metrics_and_docs_answer_without_a_token(alert_service: AlertService) -> None:
    await check_public_routes(alert_service.http, routes_of(create_app()))
