"""Password hashing is bounded: 200 sign-ups and logins at once get answers (201/200 or 503 busy with
Retry-After), never another 5xx, and never more hashes at once than the settings allow."""

from __future__ import annotations

import asyncio

import httpx

from .conftest import Identity
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
    assert set(statuses) <= {200, 201, 503}, sorted(set(statuses))
    busy = [response for response in responses if response.status_code == 503]
    # The gate admits at most its turns plus its queue while all 200 arrive together.
    admitted = AT_ONCE - len(busy)
    assert 1 <= admitted <= AT_ONCE - 1, statuses
    for response in busy:
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"]["code"] == "busy"
    assert settings.argon2_concurrency + settings.argon2_queue < AT_ONCE
