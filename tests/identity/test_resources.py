"""Users, roles with permissions, and the tenant: success and failure paths, other tenants → 404."""

from __future__ import annotations

import uuid

from .conftest import Identity
from .factories import PASSWORD, add_user, bearer, login, role_id, signup, unique


async def test_users_crud(identity: Identity) -> None:
    admin = await signup(identity.client)
    user = await add_user(identity.client, admin, first_name="Vic")
    assert (
        "password"
        not in (await identity.client.get(f"/users/{user['id']}", headers=admin.headers)).json()
    )
    listed = (await identity.client.get("/users", headers=admin.headers)).json()
    assert {admin.user_id, user["id"]} == {row["id"] for row in listed}
    editor = await role_id(identity.client, admin, "editor")
    patched = await identity.client.patch(
        f"/users/{user['id']}",
        json={"last_name": "Viewer", "role_id": editor},
        headers=admin.headers,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["last_name"], patched.json()["role_id"]) == ("Viewer", editor)
    dup = await identity.client.patch(
        f"/users/{user['id']}", json={"email": admin.email}, headers=admin.headers
    )
    assert (dup.status_code, dup.json()["error"]["code"]) == (409, "email_taken")
    dup_name = await identity.client.post(
        "/users",
        json={
            "username": admin.username,
            "email": f"{unique('x')}@example.com",
            "password": PASSWORD,
            "role_id": editor,
        },
        headers=admin.headers,
    )
    assert (dup_name.status_code, dup_name.json()["error"]["code"]) == (409, "username_taken")
    weak = await identity.client.post(
        "/users",
        json={
            "username": unique("w"),
            "email": f"{unique('w')}@example.com",
            "password": "weak",
            "role_id": editor,
        },
        headers=admin.headers,
    )
    assert weak.status_code == 422
    unknown_role = await identity.client.post(
        "/users",
        json={
            "username": unique("w"),
            "email": f"{unique('w')}@example.com",
            "password": PASSWORD,
            "role_id": str(uuid.uuid4()),
        },
        headers=admin.headers,
    )
    assert unknown_role.status_code == 422
    deleted = await identity.client.delete(f"/users/{user['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    gone = await identity.client.get(f"/users/{user['id']}", headers=admin.headers)
    assert gone.status_code == 404


async def test_deactivate_and_reactivate(identity: Identity) -> None:
    admin = await signup(identity.client)
    user = await add_user(identity.client, admin)
    session = await login(identity.client, user["username"])
    deactivated = await identity.client.post(
        f"/users/{user['id']}/deactivate", headers=admin.headers
    )
    assert deactivated.json()["is_active"] is False
    assert (await identity.client.get("/me", headers=session.headers)).status_code == 401
    refresh = await identity.client.post(
        "/auth/refresh", json={"refresh_token": session.refresh_token}
    )
    assert refresh.status_code == 401
    reactivated = await identity.client.post(
        f"/users/{user['id']}/reactivate", headers=admin.headers
    )
    assert reactivated.json()["is_active"] is True
    await login(identity.client, user["username"])


async def test_the_last_admin_stays(identity: Identity) -> None:
    admin = await signup(identity.client)
    for request in [
        identity.client.post(f"/users/{admin.user_id}/deactivate", headers=admin.headers),
        identity.client.delete(f"/users/{admin.user_id}", headers=admin.headers),
        identity.client.patch(
            f"/users/{admin.user_id}",
            json={"role_id": await role_id(identity.client, admin, "viewer")},
            headers=admin.headers,
        ),
    ]:
        response = await request
        assert (response.status_code, response.json()["error"]["code"]) == (409, "last_admin")


async def test_viewer_may_read_but_not_change(identity: Identity) -> None:
    admin = await signup(identity.client)
    viewer_user = await add_user(identity.client, admin, role="viewer")
    viewer = await login(identity.client, viewer_user["username"])
    assert (await identity.client.get("/users", headers=viewer.headers)).status_code == 200
    assert (
        await identity.client.get(f"/tenants/{admin.tenant_id}", headers=viewer.headers)
    ).status_code == 200
    forbidden = [
        identity.client.post("/roles", json={"name": "x"}, headers=viewer.headers),
        identity.client.patch(
            f"/tenants/{admin.tenant_id}", json={"name": "x"}, headers=viewer.headers
        ),
        identity.client.post(f"/users/{admin.user_id}/deactivate", headers=viewer.headers),
        identity.client.delete(f"/users/{admin.user_id}", headers=viewer.headers),
        identity.client.patch(
            f"/users/{viewer.user_id}",
            json={"role_id": await role_id(identity.client, admin, "admin")},
            headers=viewer.headers,
        ),
    ]
    for request in forbidden:
        assert (await request).status_code == 403


async def test_roles_and_permissions(identity: Identity) -> None:
    admin = await signup(identity.client)
    created = await identity.client.post(
        "/roles",
        json={
            "name": "analyst",
            "description": "reads tagged dashboards",
            "permissions": [
                {"resource": "dashboard", "action": "read", "conditions": {"tags_any": ["sales"]}},
                {"resource": "saved_query", "action": "update", "conditions": {"owner_only": True}},
            ],
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    role = created.json()
    assert len(role["permissions"]) == 2
    dup = await identity.client.post("/roles", json={"name": "analyst"}, headers=admin.headers)
    assert dup.status_code == 409
    for bad in [{"colour": "red"}, {}, {"owner_only": False}, {"ids": []}, {"tags_any": "sales"}]:
        response = await identity.client.post(
            f"/roles/{role['id']}/permissions",
            json={"resource": "dashboard", "action": "read", "conditions": bad},
            headers=admin.headers,
        )
        assert response.status_code == 422, bad
    bad_resource = await identity.client.post(
        f"/roles/{role['id']}/permissions",
        json={"resource": "spaceship", "action": "read"},
        headers=admin.headers,
    )
    assert bad_resource.status_code == 422
    granted = await identity.client.post(
        f"/roles/{role['id']}/permissions",
        json={"resource": "alert", "action": "read", "conditions": {"ids": [str(uuid.uuid4())]}},
        headers=admin.headers,
    )
    assert granted.status_code == 201, granted.text
    renamed = await identity.client.patch(
        f"/roles/{role['id']}", json={"name": "analysts"}, headers=admin.headers
    )
    assert renamed.json()["name"] == "analysts"
    user = await add_user(identity.client, admin, role="viewer")
    await identity.client.patch(
        f"/users/{user['id']}", json={"role_id": role["id"]}, headers=admin.headers
    )
    member = await login(identity.client, user["username"])
    in_use = await identity.client.delete(f"/roles/{role['id']}", headers=admin.headers)
    assert (in_use.status_code, in_use.json()["error"]["code"]) == (409, "role_in_use")
    # A permission change makes the member's tokens stale: refused until refreshed.
    revoked = await identity.client.delete(
        f"/roles/{role['id']}/permissions/{granted.json()['id']}", headers=admin.headers
    )
    assert revoked.status_code == 204
    assert (await identity.client.get("/me", headers=member.headers)).status_code == 401
    fresh = await identity.client.post(
        "/auth/refresh", json={"refresh_token": member.refresh_token}
    )
    me = (await identity.client.get("/me", headers=bearer(fresh.json()["access_token"]))).json()
    assert len(me["role"]["permissions"]) == 2
    missing = await identity.client.delete(
        f"/roles/{role['id']}/permissions/{granted.json()['id']}", headers=admin.headers
    )
    assert missing.status_code == 404
    builtin = await role_id(identity.client, admin, "viewer")
    for request in [
        identity.client.patch(f"/roles/{builtin}", json={"name": "x"}, headers=admin.headers),
        identity.client.delete(f"/roles/{builtin}", headers=admin.headers),
        identity.client.post(
            f"/roles/{builtin}/permissions",
            json={"resource": "alert", "action": "create"},
            headers=admin.headers,
        ),
    ]:
        assert (await request).status_code == 409
    empty = await identity.client.post("/roles", json={"name": "empty"}, headers=admin.headers)
    assert (
        await identity.client.delete(f"/roles/{empty.json()['id']}", headers=admin.headers)
    ).status_code == 204
    schema = (await identity.client.get("/condition-schema")).json()
    assert set(schema["properties"]) == {"owner_only", "ids", "tags_any"}
    assert schema["additionalProperties"] is False


async def test_tenant_get_update_delete(identity: Identity) -> None:
    admin = await signup(identity.client)
    got = await identity.client.get(f"/tenants/{admin.tenant_id}", headers=admin.headers)
    assert got.status_code == 200
    updated = await identity.client.patch(
        f"/tenants/{admin.tenant_id}",
        json={"name": "Renamed", "settings": {"theme": "dark", "limits": [1, 2]}},
        headers=admin.headers,
    )
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["settings"]["theme"]) == ("Renamed", "dark")
    nul = await identity.client.patch(
        f"/tenants/{admin.tenant_id}", json={"settings": {"a": "\u0000"}}, headers=admin.headers
    )
    assert nul.status_code == 422
    deleted = await identity.client.delete(f"/tenants/{admin.tenant_id}", headers=admin.headers)
    assert deleted.status_code == 204
    assert (await identity.client.get("/me", headers=admin.headers)).status_code == 401
    login_after = await identity.client.post(
        "/auth/login", json={"login": admin.username, "password": PASSWORD}
    )
    assert login_after.status_code == 401


async def test_another_tenants_objects_are_not_found(identity: Identity) -> None:
    tenant_a = await signup(identity.client)
    tenant_b = await signup(identity.client)
    b_user = await add_user(identity.client, tenant_b)
    b_role = await role_id(identity.client, tenant_b, "editor")
    b_key = (
        await identity.client.post("/api-keys", json={"name": "b"}, headers=tenant_b.headers)
    ).json()
    b_custom = (
        await identity.client.post(
            "/roles",
            json={"name": "b-auditor", "permissions": [{"resource": "alert", "action": "read"}]},
            headers=tenant_b.headers,
        )
    ).json()
    b_permission = b_custom["permissions"][0]["id"]
    headers = tenant_a.headers
    a_custom = (
        await identity.client.post("/roles", json={"name": "a-auditor"}, headers=headers)
    ).json()
    requests = [
        identity.client.get(f"/tenants/{tenant_b.tenant_id}", headers=headers),
        identity.client.patch(
            f"/tenants/{tenant_b.tenant_id}", json={"name": "x"}, headers=headers
        ),
        identity.client.delete(f"/tenants/{tenant_b.tenant_id}", headers=headers),
        identity.client.get(f"/users/{b_user['id']}", headers=headers),
        identity.client.patch(f"/users/{b_user['id']}", json={"first_name": "x"}, headers=headers),
        identity.client.post(f"/users/{b_user['id']}/deactivate", headers=headers),
        identity.client.post(f"/users/{b_user['id']}/reactivate", headers=headers),
        identity.client.delete(f"/users/{b_user['id']}", headers=headers),
        identity.client.get(f"/roles/{b_role}", headers=headers),
        identity.client.patch(f"/roles/{b_role}", json={"name": "x"}, headers=headers),
        identity.client.delete(f"/roles/{b_role}", headers=headers),
        identity.client.post(
            f"/roles/{b_role}/permissions",
            json={"resource": "alert", "action": "read"},
            headers=headers,
        ),
        # B's real permission, under B's role and under one of A's own roles.
        identity.client.delete(
            f"/roles/{b_custom['id']}/permissions/{b_permission}", headers=headers
        ),
        identity.client.delete(
            f"/roles/{a_custom['id']}/permissions/{b_permission}", headers=headers
        ),
        identity.client.delete(f"/api-keys/{b_key['id']}", headers=headers),
    ]
    for request in requests:
        response = await request
        assert response.status_code == 404, (response.request.url, response.text)
    assigned = await identity.client.post(
        "/users",
        json={
            "username": unique("x"),
            "email": f"{unique('x')}@example.com",
            "password": PASSWORD,
            "role_id": b_role,
        },
        headers=headers,
    )
    assert assigned.status_code == 422
    # B's objects are untouched.
    b_role_now = await identity.client.get(f"/roles/{b_custom['id']}", headers=tenant_b.headers)
    assert [p["id"] for p in b_role_now.json()["permissions"]] == [b_permission]
    assert (await identity.client.get(f"/users/{b_user['id']}", headers=tenant_b.headers)).json()[
        "is_active"
    ]
    users_seen = (await identity.client.get("/users", headers=headers)).json()
    assert b_user["id"] not in {user["id"] for user in users_seen}


async def test_a_role_name_is_taken_once_per_tenant(identity: Identity) -> None:
    admin = await signup(identity.client)
    first = await identity.client.post("/roles", json={"name": "auditor"}, headers=admin.headers)
    second = await identity.client.post("/roles", json={"name": "clerk"}, headers=admin.headers)
    assert first.status_code == second.status_code == 201
    for response in [
        await identity.client.post("/roles", json={"name": "auditor"}, headers=admin.headers),
        await identity.client.post("/roles", json={"name": "viewer"}, headers=admin.headers),
        await identity.client.patch(
            f"/roles/{second.json()['id']}", json={"name": "auditor"}, headers=admin.headers
        ),
    ]:
        assert (response.status_code, response.json()["error"]["code"]) == (
            409,
            "role_name_taken",
        )
    other = await signup(identity.client)
    elsewhere = await identity.client.post(
        "/roles", json={"name": "auditor"}, headers=other.headers
    )
    assert elsewhere.status_code == 201
