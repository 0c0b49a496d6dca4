"""Two concurrent refreshes with one refresh token: one is spent, the other is a reuse.

The README's rule: ``POST /auth/refresh`` spends the token; a spent token presented again revokes
the whole session (``user.logged_out``, reason ``refresh_token_reuse``). Two uses at once must
be seen the same way (the row lock of ``spend_refresh_token``), not both as first uses."""

from __future__ import annotations

import asyncio
import json

import httpx

from .conftest import Identity
from .factories import bearer, signup


async def test_two_concurrent_refreshes_one_succeeds_and_the_session_is_revoked(
    identity: Identity,
) -> None:
    admin = await signup(identity.client)

    async def refresh() -> httpx.Response:
        return await identity.client.post(
            "/auth/refresh", json={"refresh_token": admin.refresh_token}
        )

    responses = await asyncio.gather(refresh(), refresh())
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 401]
    refused = next(response for response in responses if response.status_code == 401)
    assert refused.json()["error"]["code"] == "invalid_refresh_token", refused.text
    winner = next(response for response in responses if response.status_code == 200).json()

    # The reuse ended the session for everyone who holds it: the winner's new pair too.
    again = await identity.client.post(
        "/auth/refresh", json={"refresh_token": winner["refresh_token"]}
    )
    assert again.status_code == 401  # (its body would hold tokens: not printed)
    me = await identity.client.get("/me", headers=bearer(winner["access_token"]))
    assert me.status_code == 401, me.text
    async with identity.components.pool.acquire() as conn:
        revoked = await conn.fetchval(
            "SELECT revoked_at IS NOT NULL FROM sessions WHERE id = $1", admin.session_id
        )
        logged_out = [
            json.loads(row["payload"])
            for row in await conn.fetch(
                "SELECT payload FROM outbox WHERE event_type = 'user.logged_out'"
            )
        ]
    assert revoked is True
    assert [
        event["data"]["reason"]
        for event in logged_out
        if event.get("session_id") == admin.session_id
    ] == ["refresh_token_reuse"]
