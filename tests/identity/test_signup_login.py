"""Sign-up, login, refresh rotation and reuse, logout, password change, throttling."""

from __future__ import annotations

import httpx

from .conftest import Identity
from .factories import PASSWORD, add_user, bearer, login, signup, signup_body, unique


async def test_signup_creates_tenant_admin_and_session(identity: Identity) -> None:
    admin = await signup(identity.client)
    me = (await identity.client.get("/me", headers=admin.headers)).json()
    assert me["user"]["id"] == admin.user_id
    assert me["tenant"]["id"] == admin.tenant_id
    assert me["role"]["name"] == "admin"
    assert me["session_id"] == admin.session_id
    assert me["user"]["last_login_at"] is not None
    assert "password" not in str(me) and "hash" not in str(me)
    roles = (await identity.client.get("/roles", headers=admin.headers)).json()
    assert sorted(role["name"] for role in roles) == ["admin", "editor", "viewer"]
    assert all(role["is_builtin"] for role in roles)


async def test_signup_conflicts_and_invalid_input(identity: Identity) -> None:
    first = signup_body()
    assert (await identity.client.post("/signup", json=first)).status_code == 201
    same_slug = signup_body(tenant_slug=first["tenant_slug"])
    response = await identity.client.post("/signup", json=same_slug)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "slug_taken")
    same_username = signup_body(username=first["username"].upper())
    response = await identity.client.post("/signup", json=same_username)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "username_taken")
    same_email = signup_body(email=first["email"].upper())
    response = await identity.client.post("/signup", json=same_email)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "email_taken")
    for weak in ["short", "aaaaaaaaaaaaaaaa", "password1234"]:
        response = await identity.client.post("/signup", json=signup_body(password=weak))
        assert (response.status_code, response.json()["error"]["code"]) == (422, "weak_password")
    body = signup_body()
    response = await identity.client.post(
        "/signup",
        json=signup_body(
            password=f"xx{body['username']}yy-long-enough", **{"username": body["username"]}
        ),
    )
    assert response.status_code == 422
    for bad in [{"tenant_slug": "Not A Slug"}, {"email": "no-at-sign"}, {"username": "a@b"}]:
        assert (await identity.client.post("/signup", json=signup_body(**bad))).status_code == 422
    assert (await identity.client.post("/signup", json={"nope": 1})).status_code == 422


async def test_login_by_username_or_email_and_wrong_password(identity: Identity) -> None:
    admin = await signup(identity.client)
    by_name = await login(identity.client, admin.username.upper())
    by_email = await login(identity.client, admin.email)
    assert by_name.user_id == by_email.user_id == admin.user_id
    assert by_name.session_id != by_email.session_id
    wrong = await identity.client.post(
        "/auth/login", json={"login": admin.username, "password": "not the password at all"}
    )
    unknown = await identity.client.post(
        "/auth/login", json={"login": unique("nobody"), "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    # The same answer whichever part was wrong.
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]
    assert wrong.json()["error"]["code"] == unknown.json()["error"]["code"]


async def test_refresh_rotates_and_reuse_revokes_the_session(identity: Identity) -> None:
    admin = await signup(identity.client)
    first = await identity.client.post("/auth/refresh", json={"refresh_token": admin.refresh_token})
    assert first.status_code == 200, first.text
    pair = first.json()
    assert pair["refresh_token"] != admin.refresh_token
    assert pair["session_id"] == admin.session_id
    assert (
        await identity.client.get("/me", headers=bearer(pair["access_token"]))
    ).status_code == 200
    # The spent token comes back: someone holds a copy, so the whole session ends.
    reuse = await identity.client.post("/auth/refresh", json={"refresh_token": admin.refresh_token})
    assert reuse.status_code == 401
    assert (
        await identity.client.get("/me", headers=bearer(pair["access_token"]))
    ).status_code == 401
    assert (await identity.client.get("/me", headers=admin.headers)).status_code == 401
    later = await identity.client.post(
        "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert later.status_code == 401
    unknown = await identity.client.post("/auth/refresh", json={"refresh_token": "lrt_nothing"})
    assert unknown.status_code == 401


async def test_logout_ends_the_session(identity: Identity) -> None:
    admin = await signup(identity.client)
    other = await login(identity.client, admin.username)
    response = await identity.client.post("/auth/logout", headers=admin.headers)
    assert response.status_code == 204
    assert (await identity.client.get("/me", headers=admin.headers)).status_code == 401
    refresh = await identity.client.post(
        "/auth/refresh", json={"refresh_token": admin.refresh_token}
    )
    assert refresh.status_code == 401
    assert (await identity.client.get("/me", headers=other.headers)).status_code == 200
    assert (await identity.client.post("/auth/logout")).status_code == 401


async def test_a_token_from_an_api_key_cannot_log_out(identity: Identity) -> None:
    """It has no session: the logout says so (409) instead of a 204 after which the token still
    works; revoking the key is what ends it."""
    admin = await signup(identity.client)
    created = await identity.client.post("/api-keys", json={"name": "ci"}, headers=admin.headers)
    key = created.json()
    exchanged = await identity.client.post("/auth/api-key-token", json={"api_key": key["key"]})
    machine = bearer(exchanged.json()["access_token"])
    response = await identity.client.post("/auth/logout", headers=machine)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "api_key_token"
    assert (await identity.client.get("/me", headers=machine)).status_code == 200
    assert (await identity.client.get("/me", headers=admin.headers)).status_code == 200
    revoked = await identity.client.delete(f"/api-keys/{key['id']}", headers=admin.headers)
    assert revoked.status_code == 204
    assert (await identity.client.get("/me", headers=machine)).status_code == 401


async def test_change_password(identity: Identity) -> None:
    admin = await signup(identity.client)
    other = await login(identity.client, admin.username)
    new_password = "a different long passphrase"
    wrong_old = await identity.client.post(
        "/me/password",
        json={"old_password": "not it at all!!", "new_password": new_password},
        headers=admin.headers,
    )
    assert wrong_old.status_code == 401
    weak = await identity.client.post(
        "/me/password",
        json={"old_password": PASSWORD, "new_password": "short"},
        headers=admin.headers,
    )
    assert weak.status_code == 422
    changed = await identity.client.post(
        "/me/password",
        json={"old_password": PASSWORD, "new_password": new_password},
        headers=admin.headers,
    )
    assert changed.status_code == 204
    # The session that changed it stays; the others end.
    assert (await identity.client.get("/me", headers=admin.headers)).status_code == 200
    assert (await identity.client.get("/me", headers=other.headers)).status_code == 401
    old = await identity.client.post(
        "/auth/login", json={"login": admin.username, "password": PASSWORD}
    )
    assert old.status_code == 401
    await login(identity.client, admin.username, new_password)


async def test_failed_logins_are_throttled_per_account(identity: Identity) -> None:
    admin = await signup(identity.client)
    threshold = identity.settings.throttle_account_threshold
    for _ in range(threshold):
        response = await identity.client.post(
            "/auth/login", json={"login": admin.username, "password": "wrong wrong wrong"}
        )
        assert response.status_code == 401
    # Locked now: even the right password waits, and the answer says how long.
    response = await identity.client.post(
        "/auth/login", json={"login": admin.username, "password": PASSWORD}
    )
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= identity.settings.throttle_base_lock_s
    assert response.json()["error"]["details"]["retry_after_s"] == retry_after
    # Another account from another address is not affected.
    second = await signup(identity.client)
    transport = httpx.ASGITransport(app=identity.app, client=("198.51.100.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as elsewhere:
        await login(elsewhere, second.username)


async def test_failed_logins_are_throttled_per_client_address(identity: Identity) -> None:
    admin = await signup(identity.client)
    for _ in range(identity.settings.throttle_address_threshold):
        response = await identity.client.post(
            "/auth/login", json={"login": unique("nobody"), "password": "wrong wrong wrong"}
        )
        assert response.status_code == 401
    response = await identity.client.post(
        "/auth/login", json={"login": admin.username, "password": PASSWORD}
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    transport = httpx.ASGITransport(app=identity.app, client=("198.51.100.10", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as elsewhere:
        await login(elsewhere, admin.username)


async def test_inactive_user_cannot_log_in(identity: Identity) -> None:
    admin = await signup(identity.client)
    user = await add_user(identity.client, admin)
    response = await identity.client.post(f"/users/{user['id']}/deactivate", headers=admin.headers)
    assert response.status_code == 200
    response = await identity.client.post(
        "/auth/login", json={"login": user["username"], "password": PASSWORD}
    )
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "invalid login or password"
