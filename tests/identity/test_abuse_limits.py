"""Abuse limits: password hashing is bounded (200 sign-ups and logins at once get 201/200 or 503 busy
with Retry-After, never another 5xx), and the open endpoints are limited per real client address."""

from __future__ import annotations

import asyncio

import httpx
from lookout_identity.app import create_app
from lookout_testing.servers import Servers

from .conftest import Identity, identity_settings
from .factories import PASSWORD, signup, signup_body

AT_ONCE = 200


async def test_two_hundred_sign_ups_and_logins_at_once_are_answered_or_refused_busy(
    identity: Identity,
) -> None:
    settings = identity.settings
    account = await signup(identity.client)

    async def sign_up() -> httpx.Response:
        return await identity.client.post("/signup", json=signup_body())

    async def log_in() -> httpx.Response:
        return await identity.client.post(
            "/auth/login", json={"login": account.username, "password": PASSWORD}
        )

    responses = await asyncio.gather(*(sign_up() if n % 2 else log_in() for n in range(AT_ONCE)))

    statuses = [response.status_code for response in responses]
    # 429: the per-address limit of the open endpoints (all come from one address here).
    assert set(statuses) <= {200, 201, 429, 503}, sorted(set(statuses))
    busy = [response for response in responses if response.status_code == 503]
    # The gate admits its turns plus its queue while the sign-ups arrive together: the rest is busy.
    assert busy, statuses
    assert statuses.count(200) + statuses.count(201) >= 1, statuses
    for response in busy:
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"]["code"] == "busy"
    assert settings.argon2_concurrency + settings.argon2_queue < AT_ONCE


async def test_open_endpoints_are_limited_per_real_client_address(
    database: str, servers: Servers, topic: str
) -> None:
    """Behind a trusted proxy each client address (from ``X-Forwarded-For``) has its own bucket."""
    proxy = "203.0.113.7"
    settings = identity_settings(
        database, servers, topic, forwarded_allow_ips=proxy, open_burst=3, open_rate_per_s=0.001
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(proxy, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:

            async def log_in(address: str) -> httpx.Response:
                return await client.post(
                    "/auth/login",
                    json={"login": "nobody-here", "password": PASSWORD},
                    headers={"X-Forwarded-For": address},
                )

            first = [(await log_in("198.51.100.1")).status_code for _ in range(3)]
            assert first == [401, 401, 401]
            limited = await log_in("198.51.100.1")
            assert limited.status_code == 429, limited.text
            assert limited.json()["error"]["code"] == "rate_limited"
            assert int(limited.headers["Retry-After"]) >= 1
            # Every open endpoint draws on the same bucket; the others are not limited.
            signup_body_ = signup_body()
            refused = await client.post(
                "/signup", json=signup_body_, headers={"X-Forwarded-For": "198.51.100.1"}
            )
            assert refused.status_code == 429
            keys = await client.get(
                "/.well-known/jwks.json", headers={"X-Forwarded-For": "198.51.100.1"}
            )
            assert keys.status_code == 200
            # Another client behind the same proxy has its own bucket.
            assert (await log_in("198.51.100.2")).status_code == 401
            created = await client.post(
                "/signup", json=signup_body_, headers={"X-Forwarded-For": "198.51.100.2"}
            )
            assert created.status_code == 201, created.text
