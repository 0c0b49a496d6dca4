"""Another service using the kit's auth: identity's tokens verified from its JWKS, and identity's
events revoking them within seconds (a deactivated user's unexpired token is refused)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends
from lookout_kit.app import create_service_app
from lookout_kit.auth import Authenticator, Caller, Target, can, current_caller
from lookout_kit.kafka import create_broker
from lookout_kit.settings import ServiceSettings
from lookout_testing.servers import Servers
from lookout_testing.topics import TopicCapture
from lookout_testing.waiting import wait_until

from .conftest import Identity
from .factories import add_user, bearer, login, signup


@asynccontextmanager
async def other_service(identity: Identity, servers: Servers) -> AsyncIterator[httpx.AsyncClient]:
    broker = create_broker(servers.kafka)
    auth = Authenticator.from_jwks_url(
        "http://identity/.well-known/jwks.json",
        issuer=identity.settings.jwt_issuer,
        audience=identity.settings.jwt_audience,
        client=identity.client,  # identity runs in-process: its JWKS over the ASGI transport
    )
    auth.subscribe(broker, topic=identity.topic)
    router = APIRouter()

    @router.get("/dashboards/{owner}")
    async def read(
        owner: str, caller: Annotated[Caller, Depends(current_caller)]
    ) -> dict[str, Any]:
        target = Target.of(caller.tenant_id, owner_id=caller.user_id if owner == "mine" else None)
        return {
            "user_id": str(caller.user_id),
            "may_update": can(caller, "update", "dashboard", target),
        }

    app = create_service_app(
        ServiceSettings(service_name="kitauthtest", kafka_bootstrap_servers=servers.kafka),
        service_package="lookout_kit",
        title="kit auth test",
        routers=[router],
        broker=broker,
        on_startup=[auth.on_startup],
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://other") as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await wait_until(ready, timeout=20, message="the other service to be ready")
            yield client


async def test_deactivated_user_is_refused_by_another_service_within_5_s(
    identity: Identity, servers: Servers
) -> None:
    admin = await signup(identity.client)
    user = await add_user(identity.client, admin, role="editor")
    session = await login(identity.client, user["username"])
    async with other_service(identity, servers) as other:
        mine = await other.get("/dashboards/mine", headers=session.headers)
        assert mine.status_code == 200, mine.text
        assert mine.json() == {"user_id": user["id"], "may_update": True}
        theirs = await other.get("/dashboards/theirs", headers=session.headers)
        assert theirs.json()["may_update"] is False  # editors update their own only
        assert (await other.get("/dashboards/mine")).status_code == 401

        response = await identity.client.post(
            f"/users/{user['id']}/deactivate", headers=admin.headers
        )
        assert response.status_code == 200
        deactivated_at = time.monotonic()

        async def refused() -> bool:
            return (await other.get("/dashboards/mine", headers=session.headers)).status_code == 401

        await wait_until(refused, timeout=5, interval=0.05, message="the token to be refused")
        assert time.monotonic() - deactivated_at <= 5.0
        # Others are unaffected.
        assert (await other.get("/dashboards/mine", headers=admin.headers)).status_code == 200

        # Logout reaches the other service the same way.
        assert (
            await identity.client.post("/auth/logout", headers=admin.headers)
        ).status_code == 204

        async def admin_refused() -> bool:
            return (await other.get("/dashboards/mine", headers=admin.headers)).status_code == 401

        await wait_until(admin_refused, timeout=5, interval=0.05, message="logout to reach it")


async def test_a_new_signing_key_is_fetched_on_unknown_kid(
    identity: Identity, servers: Servers
) -> None:
    admin = await signup(identity.client)
    async with other_service(identity, servers) as other:
        assert (await other.get("/dashboards/mine", headers=admin.headers)).status_code == 200
        await identity.components.keyring.rotate()
        pair = (
            await identity.client.post("/auth/refresh", json={"refresh_token": admin.refresh_token})
        ).json()
        fresh = await other.get("/dashboards/mine", headers=bearer(pair["access_token"]))
        assert fresh.status_code == 200
        assert (await other.get("/dashboards/mine", headers=admin.headers)).status_code == 200


async def test_events_carry_sessions_and_never_secrets(
    identity: Identity, servers: Servers
) -> None:
    admin = await signup(identity.client)
    user = await add_user(identity.client, admin)
    session = await login(identity.client, user["username"])
    await identity.client.post(
        "/auth/login", json={"login": user["username"], "password": "wrong wrong wrong"}
    )
    key = await identity.client.post("/api-keys", json={"name": "k"}, headers=admin.headers)
    await identity.client.post("/auth/logout", headers=session.headers)
    expected = {
        "tenant.created",
        "role.created",
        "permission.granted",
        "user.created",
        "user.logged_in",
        "user.login_failed",
        "api_key.created",
        "user.logged_out",
    }
    async with TopicCapture(servers.kafka, identity.topic) as capture:

        async def all_there() -> set[str]:
            await capture.poll()
            seen = {json.loads(record.value)["type"] for record in capture.records}
            return seen if expected <= seen else set()

        await wait_until(all_there, timeout=20, message="identity's events")
        events = [json.loads(record.value) for record in capture.records]
    for event in events:
        raw = json.dumps(event)
        for secret in [admin.password, session.refresh_token, key.json()["key"], "argon2"]:
            assert secret not in raw
    logged_in = [
        e for e in events if e["type"] == "user.logged_in" and e["subject"]["id"] == user["id"]
    ]
    assert logged_in[0]["session_id"] == session.session_id
    logged_out = [e for e in events if e["type"] == "user.logged_out"]
    assert logged_out[0]["session_id"] == session.session_id
    assert logged_out[0]["data"]["reason"] == "logout"
