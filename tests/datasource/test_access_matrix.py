"""Who may do what with data sources, saved queries and executions: every route of the datasource
service by every kind of caller, through the real HTTP API against objects made through it (a
source on a real PostgreSQL database, its schema read, saved queries, an execution); the format is
``lookout_testing.access``'s.

The source is an admin's; the saved queries (one private, one public) and the execution are the
``owner``'s, an editor. ``granted`` holds role permissions naming exactly these objects by id
(``read``, ``update``, ``execute`` on the source, ``update`` on the query), ``granted others`` the
same permissions naming other objects; ``editor`` is another editor than the owner; ``viewer`` has
the built-in viewer's; ``same tenant`` has no permission at all; ``other tenant`` is an admin of
its own tenant; ``…, public query`` meet the public saved query (the same source and execution),
the other tenant's without any permission in its own tenant (its lists hold only its own and public
rows); ``alert service`` sends the alert service's token naming this tenant (or another) and no
user: it runs the tenant's saved queries in a batch and nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from lookout_datasource.app import create_app
from lookout_testing.access import (
    HIDDEN,
    NO_TOKEN,
    SEES,
    Cell,
    Matrix,
    Outcome,
    Row,
    check_public_routes,
    check_row,
    routes_of,
)
from lookout_testing.databases import temporary_database
from lookout_testing.servers import Servers

from .conftest import DatasourceService
from .execution_support import sales_database
from .support import ADMIN, EDITOR, VIEWER, Actor, a_query, a_source, permission

ACTORS = (
    "admin",
    "owner",
    "granted",
    "granted others",
    "editor",
    "viewer",
    "same tenant",
    "same tenant, public query",
    "other tenant",
    "other tenant, public query",
    "alert service",
    "alert service, other tenant",
    NO_TOKEN,
)
S = "/data-sources/{data_source_id}"
Q = "/saved-queries/{saved_query_id}"
E = "/executions/{execution_id}"
COUNT = "SELECT count(*) AS n FROM sales"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def _item_status(response: httpx.Response) -> Outcome:
    """A batch's one item: 200 when it ran, else the status its error carries."""
    if response.status_code != 200:
        return response.status_code
    item = response.json()["items"][0]
    return 200 if item["ok"] else int(item["error"]["status"])


# A service token is no user: every route but the batch refuses it as no valid token.
#                admin owner grant other edit view st   stp  ot   otp  svc  svco none
SOURCE_READ = (200, 200, 200, 404, 200, 200, 404, 404, 404, 404, 401, 401, 401)
SOURCE_UPDATE = (200, 403, 200, 404, 403, 403, 404, 404, 404, 404, 401, 401, 401)
SOURCE_DELETE = (204, 403, 403, 404, 403, 403, 404, 404, 404, 404, 401, 401, 401)
SOURCE_EXECUTE = (200, 200, 200, 404, 200, 403, 404, 404, 404, 404, 401, 401, 401)
SOURCE_CREATE = (201, 403, 403, 403, 403, 403, 403, 403, 201, 403, 401, 401, 401)
SOURCE_LIST = (SEES, SEES, SEES, HIDDEN, SEES, SEES, HIDDEN, HIDDEN, HIDDEN, HIDDEN, 401, 401, 401)
QUERY_VIEW = (200, 200, 200, 404, 200, 200, 404, 200, 404, 404, 401, 401, 401)
QUERY_EDIT = (200, 200, 200, 404, 403, 403, 404, 403, 404, 404, 401, 401, 401)
QUERY_DELETE = (204, 204, 403, 404, 403, 403, 404, 403, 404, 404, 401, 401, 401)
# Another tenant may create queries in its own tenant, but not on this tenant's source (422).
QUERY_CREATE = (201, 201, 403, 403, 201, 403, 403, 403, 422, 403, 401, 401, 401)
QUERY_LIST = (SEES, SEES, SEES, HIDDEN, SEES, SEES, HIDDEN, SEES, HIDDEN, HIDDEN, 401, 401, 401)
# The alert service runs any saved query of the tenant its token names, and only in a batch.
BATCH = (200, 200, 200, 404, 200, 200, 404, 200, 404, 404, 200, 404, 401)
# The starter or an admin; another user of the tenant is refused, another tenant finds nothing.
EXECUTION = (200, 200, 403, 403, 403, 403, 403, 403, 404, 404, 401, 401, 401)

MATRIX = Matrix(
    "datasource",
    ACTORS,
    Row("POST", "/data-sources", SOURCE_CREATE, request=lambda c: {"json": a_source()}),
    Row(
        "GET",
        "/data-sources",
        SOURCE_LIST,
        request=lambda c: {"params": {"limit": 200}},
        lists="data_source_id",
    ),
    Row("GET", S, SOURCE_READ),
    Row("PATCH", S, SOURCE_UPDATE, request=lambda c: {"json": {"name": _unique("renamed")}}),
    Row("DELETE", S, SOURCE_DELETE, fresh=True),
    Row("POST", S + "/execute", SOURCE_EXECUTE, request=lambda c: {"json": {"query_text": COUNT}}),
    Row("POST", S + "/test", SOURCE_EXECUTE),
    Row("POST", S + "/schema/refresh", SOURCE_EXECUTE),
    Row("GET", S + "/tables", SOURCE_READ),
    Row(
        "GET",
        S + "/columns",
        SOURCE_READ,
        request=lambda c: {"params": {"schema": "public", "table": "sales"}},
    ),
    Row(
        "POST",
        "/saved-queries",
        QUERY_CREATE,
        request=lambda c: {"json": a_query(c.params["data_source_id"], query_text=COUNT)},
    ),
    Row(
        "GET",
        "/saved-queries",
        QUERY_LIST,
        request=lambda c: {"params": {"q": c.facts["query_name"]}},
        lists="saved_query_id",
    ),
    Row("GET", Q, QUERY_VIEW),
    Row("PATCH", Q, QUERY_EDIT, request=lambda c: {"json": {"description": _unique("why")}}),
    Row("DELETE", Q, QUERY_DELETE, fresh=True),
    Row("POST", Q + "/execute", QUERY_VIEW, request=lambda c: {"json": {"values": {}}}),
    Row(
        "POST",
        "/executions/batch",
        BATCH,
        request=lambda c: {"json": {"items": [{"saved_query_id": c.params["saved_query_id"]}]}},
        outcome=_item_status,
    ),
    Row("GET", E, EXECUTION),
    Row("POST", E + "/cancel", EXECUTION),
)


@dataclass
class World:
    service: DatasourceService
    connection_config: dict[str, Any]
    tenant: uuid.UUID = field(default_factory=uuid.uuid4)
    admin: Actor = field(init=False)
    owner: Actor = field(init=False)
    shared: dict[str, str] = field(default_factory=dict)
    cells: dict[str, Cell] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.admin = Actor(self.tenant, ADMIN)
        self.owner = Actor(self.tenant, EDITOR)

    async def build(self) -> None:
        """The module's source (its schema read), the owner's queries and one execution."""
        admin = self.service.client(self.admin)
        owner = self.service.client(self.owner)
        source = await admin.create_source(connection_config=self.connection_config)
        refreshed = await admin.request("POST", f"/data-sources/{source['id']}/schema/refresh")
        assert refreshed.json()["succeeded"], refreshed.text
        query = await owner.create_query(source["id"], query_text=COUNT, parameters=[])
        public = await owner.create_query(
            source["id"], query_text=COUNT, parameters=[], is_public=True
        )
        run = await owner.request("POST", f"/saved-queries/{query['id']}/execute", json={})
        assert run.status_code == 200, run.text
        self.shared = {
            "data_source_id": source["id"],
            "saved_query_id": query["id"],
            "public_query_id": public["id"],
            "query_name": query["name"],
            "public_query_name": public["name"],
            "execution_id": run.json()["execution_id"],
        }

    async def arrange(self, actor: str, fresh: bool) -> Cell:
        if not fresh and actor in self.cells:
            return self.cells[actor]
        ids = dict(self.shared)
        if fresh:  # a source no query uses, and a query, for this cell alone
            admin = self.service.client(self.admin)
            owner = self.service.client(self.owner)
            ids["data_source_id"] = (await admin.create_source())["id"]
            for key, public in (("saved_query_id", False), ("public_query_id", True)):
                created = await owner.create_query(
                    self.shared["data_source_id"], query_text=COUNT, parameters=[], is_public=public
                )
                ids[key] = created["id"]
        public = actor.endswith(", public query")
        query_key = "public_query_id" if public else "saved_query_id"
        name_key = "public_query_name" if public else "query_name"
        caller = self._caller(actor, ids["data_source_id"], ids[query_key])
        if actor.startswith("alert service"):
            tenant = uuid.uuid4() if actor.endswith("other tenant") else self.tenant
            headers = bearer(self.service.keys.service_token("alert", tenant))
        else:
            headers = {} if caller is None else self.service.client(caller).headers
        cell = Cell(
            headers,
            params={
                "data_source_id": ids["data_source_id"],
                "saved_query_id": ids[query_key],
                "execution_id": ids["execution_id"],
            },
            facts={"query_name": ids[name_key]},
        )
        if not fresh:
            self.cells[actor] = cell
        return cell

    def _caller(self, actor: str, data_source_id: str, saved_query_id: str) -> Actor | None:
        if actor == NO_TOKEN or actor.startswith("alert service"):
            return None
        if actor == "admin":
            return self.admin
        if actor == "owner":
            return self.owner
        if actor.startswith("granted"):
            if actor == "granted others":
                data_source_id, saved_query_id = str(uuid.uuid4()), str(uuid.uuid4())
            on_source = {"ids": [data_source_id]}
            return Actor(
                self.tenant,
                [
                    permission("data_source", "read", on_source),
                    permission("data_source", "update", on_source),
                    permission("data_source", "execute", on_source),
                    permission("saved_query", "update", {"ids": [saved_query_id]}),
                ],
            )
        if actor == "viewer":
            return Actor(self.tenant, VIEWER)
        if actor == "editor":
            return Actor(self.tenant, EDITOR)
        if actor.startswith("same tenant"):
            return Actor(self.tenant, [])
        if actor == "other tenant, public query":
            return Actor(uuid.uuid4(), [])
        assert actor == "other tenant", actor
        return Actor(uuid.uuid4(), ADMIN)


@pytest.fixture(scope="module")
async def world(datasource: DatasourceService, servers: Servers) -> AsyncIterator[World]:
    async with temporary_database(servers.postgres, prefix="test_access") as dsn:
        built = World(datasource, await sales_database(dsn))
        await built.build()
        yield built


@pytest.mark.parametrize("row", MATRIX.rows, ids=MATRIX.ids)
async def test_access(world: World, row: Row) -> None:
    await check_row(world.service.http, MATRIX, row, world.arrange)


async def test_health_metrics_and_docs_answer_without_a_token(
    datasource: DatasourceService,
) -> None:
    await check_public_routes(datasource.http, routes_of(create_app()))
