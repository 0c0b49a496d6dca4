"""Who may do what in identity: every route by every kind of caller, through the real HTTP API
against tenants, users, roles, permissions and API keys made through it, with real logins (format:
``lookout_testing.access``).

``admin`` signed the tenant up, ``API key`` is the admin's token from one of its API keys (no
session: a logout is refused, not a 204 that ends nothing); ``granted`` holds a custom role naming
exactly the target user and the target role by id (``user:admin``, ``role:admin``) and reading the
tenant; ``member`` is a built-in viewer; ``other tenant`` is another tenant's admin;
``service token`` is the alert service's token for the tenant (client credentials), no user.
Sign-up, login, refresh, machine tokens and the public keys are open to anyone by design: their
rows say so.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from lookout_identity.app import create_app
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
from lookout_testing.databases import temporary_database
from lookout_testing.servers import Servers
from lookout_testing.topics import unique_topic

from .conftest import identity_settings
from .factories import (
    PASSWORD,
    Account,
    add_user,
    bearer,
    login,
    role_id,
    signup,
    signup_body,
    unique,
)

ACTORS = ("admin", "API key", "granted", "member", "other tenant", "service token", NO_TOKEN)
U = "/users/{user_id}"
R = "/roles/{role_id}"


def _json(body: dict[str, Any]) -> dict[str, Any]:
    return {"json": body}


#          admin key granted member other service none
ANYONE = (200, 200, 200, 200, 200, 200, 200)
SIGNED_IN = (200, 200, 200, 200, 200, 401, 401)
ENDED = (204, 204, 204, 204, 204, 401, 401)
OWN_KEYS = (SEES, SEES, HIDDEN, HIDDEN, HIDDEN, 401, 401)
READ = (200, 200, 200, 200, 404, 401, 401)
CHANGE = (200, 200, 200, 403, 404, 401, 401)  # granted: its role names this user / role
TENANT_CHANGE = (200, 200, 403, 403, 404, 401, 401)

MATRIX = Matrix(
    "identity",
    ACTORS,
    Row("POST", "/signup", (201,) * 7, request=lambda c: _json(signup_body())),
    Row("POST", "/auth/login", ANYONE, request=lambda c: _json(c.facts["credentials"])),
    Row(
        "POST",
        "/auth/refresh",
        ANYONE,
        fresh=True,
        request=lambda c: _json({"refresh_token": c.facts["refresh_token"]}),
    ),
    Row("POST", "/auth/logout", (204, 409, 204, 204, 204, 401, 401), fresh=True),
    Row(
        "POST",
        "/me/password",
        ENDED,
        fresh=True,
        request=lambda c: _json({"old_password": PASSWORD, "new_password": f"{PASSWORD} anew"}),
    ),
    Row(
        "POST",
        "/auth/api-key-token",
        ANYONE,
        request=lambda c: _json({"api_key": c.facts["api_key"]}),
    ),
    Row(
        "POST",
        "/auth/service-token",
        ANYONE,
        request=lambda c: _json({"service": "alert", "secret": "alert-secret-for-tests"}),
    ),
    Row("GET", "/.well-known/jwks.json", ANYONE),
    Row("GET", "/condition-schema", ANYONE),
    Row("GET", "/me", SIGNED_IN),
    Row("GET", "/users", (SEES, SEES, 403, SEES, HIDDEN, 401, 401), lists="user_id"),
    Row(
        # Another tenant's admin names a role of this tenant: refused as unknown (422).
        "POST",
        "/users",
        (201, 201, 403, 403, 422, 401, 401),
        request=lambda c: _json(
            {
                "username": unique("user"),
                "email": f"{unique('u')}@example.com",
                "password": PASSWORD,
                "role_id": c.params["viewer_role_id"],
            }
        ),
    ),
    Row("GET", U, READ),
    Row("PATCH", U, CHANGE, request=lambda c: _json({"first_name": unique("Ada")})),
    Row("POST", U + "/deactivate", CHANGE),
    Row("POST", U + "/reactivate", CHANGE),
    Row("DELETE", U, (204, 204, 204, 403, 404, 401, 401), fresh=True),
    Row("GET", "/tenants/{tenant_id}", READ),
    Row(
        "PATCH",
        "/tenants/{tenant_id}",
        TENANT_CHANGE,
        request=lambda c: _json({"name": unique("Tenant ")}),
    ),
    Row("DELETE", "/tenants/{tenant_id}", (204, 204, 403, 403, 404, 401, 401), fresh=True),
    Row("GET", "/roles", (SEES, SEES, 403, SEES, HIDDEN, 401, 401), lists="role_id"),
    Row(
        "POST",
        "/roles",
        (201, 201, 403, 403, 201, 401, 401),
        request=lambda c: _json({"name": unique("r")}),
    ),
    Row("GET", R, READ),
    Row("PATCH", R, CHANGE, request=lambda c: _json({"description": unique("why ")})),
    Row("DELETE", R, (204, 204, 204, 403, 404, 401, 401), fresh=True),
    Row(
        "POST",
        R + "/permissions",
        (201, 201, 201, 403, 404, 401, 401),
        request=lambda c: _json(
            {"resource": "dashboard", "action": "read", "conditions": {"ids": [str(uuid.uuid4())]}}
        ),
    ),
    Row(
        "DELETE",
        R + "/permissions/{permission_id}",
        (204, 204, 204, 403, 404, 401, 401),
        fresh=True,
    ),
    Row("GET", "/api-keys", OWN_KEYS, lists="api_key_id"),
    Row(
        "POST",
        "/api-keys",
        (201, 201, 201, 201, 201, 401, 401),
        request=lambda c: _json({"name": "k"}),
    ),
    Row("DELETE", "/api-keys/{api_key_id}", (204, 204, 404, 404, 404, 401, 401), fresh=True),
)


async def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@dataclass
class World:
    http: httpx.AsyncClient
    shared: dict[str, Cell] = field(default_factory=dict)

    async def arrange(self, actor: str, fresh: bool) -> Cell:
        if fresh:
            return (await self._tenant(actor))[actor]
        if not self.shared:
            self.shared = await self._tenant(None)
        return self.shared[actor]

    async def _tenant(self, only: str | None) -> dict[str, Cell]:
        """A tenant with a target user, a role with a permission, an API key and a spare session of
        its admin, and a cell for ``only`` (for every actor when None): the caller's token."""
        http = self.http
        admin = await signup(http)
        target = await add_user(http, admin)
        role = await _created(
            await http.post(
                "/roles",
                json={
                    "name": unique("r"),
                    "permissions": [{"resource": "alert", "action": "read"}],
                },
                headers=admin.headers,
            )
        )
        key = await _created(
            await http.post("/api-keys", json={"name": "k"}, headers=admin.headers)
        )
        spare = await login(http, admin.username)
        params = {
            "user_id": target["id"],
            "tenant_id": admin.tenant_id,
            "role_id": role["id"],
            "permission_id": role["permissions"][0]["id"],
            "api_key_id": key["id"],
            "viewer_role_id": await role_id(http, admin, "viewer"),
        }
        facts = {
            "credentials": {"login": admin.username, "password": PASSWORD},
            "refresh_token": spare.refresh_token,
            "api_key": key["key"],
        }
        cells = {}
        for actor in ACTORS if only is None else (only,):
            token = await self._token(actor, admin, params, key["key"])
            cells[actor] = Cell({} if token is None else bearer(token), params=params, facts=facts)
        return cells

    async def _token(
        self, actor: str, admin: Account, params: dict[str, str], key: str
    ) -> str | None:
        http = self.http
        if actor == NO_TOKEN:
            return None
        if actor == "admin":
            return admin.access_token
        if actor == "member":
            return (await login(http, (await add_user(http, admin))["username"])).access_token
        if actor == "other tenant":
            return (await signup(http)).access_token
        if actor == "API key":
            exchanged = await http.post("/auth/api-key-token", json={"api_key": key})
        elif actor == "service token":
            exchanged = await http.post(
                "/auth/service-token",
                json={
                    "service": "alert",
                    "secret": "alert-secret-for-tests",
                    "tenant_id": admin.tenant_id,
                },
            )
        else:
            assert actor == "granted", actor
            names_them = {"ids": [params["user_id"], params["role_id"]]}
            granting = await _created(
                await http.post(
                    "/roles",
                    json={
                        "name": unique("g"),
                        "permissions": [
                            {"resource": "user", "action": "admin", "conditions": names_them},
                            {"resource": "role", "action": "admin", "conditions": names_them},
                            {"resource": "tenant", "action": "read"},
                        ],
                    },
                    headers=admin.headers,
                )
            )
            user = await add_user(http, admin, role_id=granting["id"])
            return (await login(http, user["username"])).access_token
        assert exchanged.status_code == 200, exchanged.text
        token: str = exchanged.json()["access_token"]
        return token


@pytest.fixture(scope="module")
async def identity_http(servers: Servers) -> AsyncIterator[httpx.AsyncClient]:
    async with temporary_database(servers.postgres, prefix="test_identity") as database:
        app = create_app(identity_settings(database, servers, unique_topic("identity")))
        async with app.router.lifespan_context(app):
            # A client inside the cluster's networks: /metrics (metrics_allow_ips) answers it too.
            transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://identity") as http:
                yield http


@pytest.fixture(scope="module")
def world(identity_http: httpx.AsyncClient) -> World:
    return World(identity_http)


@pytest.mark.parametrize("row", MATRIX.rows, ids=MATRIX.ids)
async def test_access(world: World, row: Row) -> None:
    await check_row(world.http, MATRIX, row, world.arrange)


async def test_health_metrics_and_docs_answer_without_a_token(
    identity_http: httpx.AsyncClient,
) -> None:
    await check_public_routes(identity_http, routes_of(create_app()))
