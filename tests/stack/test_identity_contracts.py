"""Identity → broker → dashboard, through the gateway of the running stack.

What identity does through its API must reach the dashboard service by identity's events:

- the reactions: a deleted user's dashboards move to the successor identity names and their grants go;
  a deleted role's grants go; a deleted tenant's dashboards go;
- the revocations: every change that must end a token (its role or the role's permissions, the
  user's password, the API key it came from, its tenant) makes the dashboard refuse it (401)
  within 5 s.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from lookout_testing.accounts import PASSWORD
from lookout_testing.accounts import signup as signed_up
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until

REVOKED_WITHIN_S = 5.0
DASHBOARD_DATABASE = "lookout_dashboard"  # the running stack's dashboard service (its settings)


@dataclass(frozen=True)
class Account:
    tenant_id: str
    user_id: str
    token: str
    login: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def http(servers: Servers) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=servers.gateway, timeout=30) as client:
        yield client


async def signup(http: httpx.AsyncClient) -> Account:
    body = await signed_up(http, "contract")
    return Account(
        body["tenant"]["id"], body["user"]["id"], body["tokens"]["access_token"], body["username"]
    )


async def create_role(http: httpx.AsyncClient, admin: Account, actions: list[str]) -> str:
    response = await http.post(
        "/api/identity/roles",
        headers=admin.headers,
        json={
            "name": unique("role"),
            "permissions": [{"resource": "dashboard", "action": a} for a in actions],
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def create_user(http: httpx.AsyncClient, admin: Account, role_id: str) -> Account:
    """A user of ``admin``'s tenant with ``role_id``, logged in."""
    name = unique("user")
    created = await http.post(
        "/api/identity/users",
        headers=admin.headers,
        json={
            "username": name,
            "email": f"{name}@example.com",
            "password": PASSWORD,
            "role_id": role_id,
        },
    )
    assert created.status_code == 201, created.text
    return Account(admin.tenant_id, created.json()["id"], await login(http, name), name)


async def login(http: httpx.AsyncClient, name: str, password: str = PASSWORD) -> str:
    response = await http.post(
        "/api/identity/auth/login", json={"login": name, "password": password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def create_dashboard(http: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    response = await http.post(
        "/api/dashboard/dashboards", headers=account.headers, json={"name": unique("board ")}
    )
    assert response.status_code == 201, response.text
    board: dict[str, Any] = response.json()
    return board


async def grant(http: httpx.AsyncClient, owner: Account, dashboard_id: str, **grantee: str) -> None:
    response = await http.post(
        f"/api/dashboard/dashboards/{dashboard_id}/grants", headers=owner.headers, json=grantee
    )
    assert response.status_code == 201, response.text


async def grants_of(
    http: httpx.AsyncClient, owner: Account, dashboard_id: str
) -> set[tuple[Any, ...]]:
    response = await http.get(
        f"/api/dashboard/dashboards/{dashboard_id}/grants", headers=owner.headers
    )
    assert response.status_code == 200, response.text
    return {(g["user_id"], g["role_id"], g["permission"]) for g in response.json()}


async def dashboard_answers(http: httpx.AsyncClient, token: str) -> int:
    response = await http.get(
        "/api/dashboard/dashboards", headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code


# --- reactions: identity's events change the dashboard service's data ---------------------------


async def test_a_user_deleted_in_identity_leaves_their_dashboards_to_the_successor(
    http: httpx.AsyncClient,
) -> None:
    admin = await signup(http)
    member = await create_role(http, admin, ["create"])
    leaver = await create_user(http, admin, member)
    stayer = await create_user(http, admin, member)
    theirs = await create_dashboard(http, leaver)
    shared = await create_dashboard(http, admin)
    await grant(http, admin, shared["id"], user_id=leaver.user_id, permission="edit")
    await grant(http, admin, shared["id"], user_id=stayer.user_id, permission="view")

    deleted = await http.delete(f"/api/identity/users/{leaver.user_id}", headers=admin.headers)
    assert deleted.status_code == 204, deleted.text

    # identity names the tenant's longest-standing admin (its founder) the successor
    async def moved() -> bool:
        board = await http.get(f"/api/dashboard/dashboards/{theirs['id']}", headers=admin.headers)
        assert board.status_code == 200, board.text
        return board.json()["owner_id"] == admin.user_id and await grants_of(
            http, admin, shared["id"]
        ) == {(stayer.user_id, None, "view")}

    await wait_until(
        moved, timeout=20, message="the leaver's dashboard to move to the admin, their grant to go"
    )


async def test_a_role_deleted_in_identity_loses_its_grants(http: httpx.AsyncClient) -> None:
    admin = await signup(http)
    doomed = await create_role(http, admin, ["create"])
    kept = await create_role(http, admin, ["create"])
    board = await create_dashboard(http, admin)
    await grant(http, admin, board["id"], role_id=doomed, permission="view")
    await grant(http, admin, board["id"], role_id=kept, permission="edit")

    deleted = await http.delete(f"/api/identity/roles/{doomed}", headers=admin.headers)
    assert deleted.status_code == 204, deleted.text

    async def only_the_other_role_left() -> bool:
        return await grants_of(http, admin, board["id"]) == {(None, kept, "edit")}

    await wait_until(only_the_other_role_left, timeout=20, message="the deleted role's grant to go")


async def test_a_tenant_deleted_in_identity_loses_its_dashboards_only(
    http: httpx.AsyncClient, servers: Servers
) -> None:
    doomed, survivor = await signup(http), await signup(http)
    for _ in range(2):
        await create_dashboard(http, doomed)
    kept = await create_dashboard(http, survivor)

    deleted = await http.delete(f"/api/identity/tenants/{doomed.tenant_id}", headers=doomed.headers)
    assert deleted.status_code == 204, deleted.text

    # the tenant's own tokens are refused now: look in the dashboard service's database
    conn = await asyncpg.connect(f"{servers.postgres}/{DASHBOARD_DATABASE}")
    try:

        async def left(tenant_id: str) -> int:
            count = await conn.fetchval(
                "SELECT count(*) FROM dashboards WHERE tenant_id = $1", uuid.UUID(tenant_id)
            )
            return int(count)

        async def gone() -> bool:
            return await left(doomed.tenant_id) == 0

        await wait_until(gone, timeout=20, message="the deleted tenant's dashboards to go")
        assert await left(survivor.tenant_id) == 1
    finally:
        await conn.close()
    board = await http.get(f"/api/dashboard/dashboards/{kept['id']}", headers=survivor.headers)
    assert board.status_code == 200, board.text


# --- revocations: identity's changes end tokens in the dashboard service within 5 s -------------


async def refused_within_deadline(
    http: httpx.AsyncClient, tokens: list[str], change: Callable[[], Awaitable[None]]
) -> None:
    """Each of ``tokens`` works in the dashboard service; after ``change`` each is refused (401)
    within 5 s of identity's answer."""
    for token in tokens:
        assert await dashboard_answers(http, token) == 200
    await change()
    started = time.monotonic()
    for token in tokens:
        while (status := await dashboard_answers(http, token)) != 401:
            assert status == 200, status
            assert time.monotonic() - started < REVOKED_WITHIN_S, "a token still works after 5 s"
            await asyncio.sleep(0.1)
    assert time.monotonic() - started < REVOKED_WITHIN_S


async def expect(response: Awaitable[httpx.Response], status: int) -> None:
    answered = await response
    assert answered.status_code == status, answered.text


ROLE_CHANGES = ["renamed", "permission granted", "permission revoked", "user moved to another role"]


@pytest.mark.parametrize("change", ROLE_CHANGES)
async def test_a_role_or_permission_change_ends_the_users_tokens_in_dashboard(
    http: httpx.AsyncClient, change: str
) -> None:
    admin = await signup(http)
    role = await create_role(http, admin, ["create"])
    user = await create_user(http, admin, role)
    roles = f"/api/identity/roles/{role}"

    async def act() -> None:
        if change == "renamed":
            await expect(http.patch(roles, headers=admin.headers, json={"name": unique("r")}), 200)
        elif change == "permission granted":
            body = {"resource": "dashboard", "action": "share"}
            await expect(http.post(f"{roles}/permissions", headers=admin.headers, json=body), 201)
        elif change == "permission revoked":
            listed = await http.get(roles, headers=admin.headers)
            permission_id = listed.json()["permissions"][0]["id"]
            await expect(
                http.delete(f"{roles}/permissions/{permission_id}", headers=admin.headers), 204
            )
        else:
            other = await create_role(http, admin, ["create"])
            await expect(
                http.patch(
                    f"/api/identity/users/{user.user_id}",
                    headers=admin.headers,
                    json={"role_id": other},
                ),
                200,
            )

    await refused_within_deadline(http, [user.token], act)
    # only tokens issued before the change end: the admin's (another role) still works
    assert await dashboard_answers(http, admin.token) == 200


async def test_a_password_change_ends_the_users_tokens_in_dashboard(
    http: httpx.AsyncClient,
) -> None:
    admin = await signup(http)
    user = await create_user(http, admin, await create_role(http, admin, ["create"]))
    # another session (identity ends it) and the caller's own (the kit refuses every token issued
    # before the new password, although identity keeps the caller's session for refreshing)
    other_session = await login(http, user.login)

    async def act() -> None:
        body = {"old_password": PASSWORD, "new_password": "a new passphrase long enough"}
        await expect(http.post("/api/identity/me/password", headers=user.headers, json=body), 204)

    await refused_within_deadline(http, [other_session, user.token], act)
    assert await dashboard_answers(http, admin.token) == 200


async def test_a_revoked_api_key_ends_its_tokens_in_dashboard(http: httpx.AsyncClient) -> None:
    admin = await signup(http)
    created = await http.post(
        "/api/identity/api-keys", headers=admin.headers, json={"name": unique("key")}
    )
    assert created.status_code == 201, created.text
    exchanged = await http.post(
        "/api/identity/auth/api-key-token", json={"api_key": created.json()["key"]}
    )
    assert exchanged.status_code == 200, exchanged.text
    key_token = exchanged.json()["access_token"]

    async def act() -> None:
        await expect(
            http.delete(f"/api/identity/api-keys/{created.json()['id']}", headers=admin.headers),
            204,
        )

    await refused_within_deadline(http, [key_token], act)
    # the key's session alone ends: the user's own token still works
    assert await dashboard_answers(http, admin.token) == 200


async def test_a_deleted_tenant_ends_its_tokens_in_dashboard(http: httpx.AsyncClient) -> None:
    doomed, other = await signup(http), await signup(http)

    async def act() -> None:
        await expect(
            http.delete(f"/api/identity/tenants/{doomed.tenant_id}", headers=doomed.headers), 204
        )

    await refused_within_deadline(http, [doomed.token], act)
    assert await dashboard_answers(http, other.token) == 200
