"""Identity prunes what it no longer needs (issue 18): sessions ended past the retention (their
refresh tokens with them), refresh tokens expired as long, throttle rows whose window and lock
are over — and nothing a live login still needs."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import httpx
from lookout_identity.app import create_app
from lookout_identity.service.pruning import prune
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until

from .conftest import Identity, identity_settings
from .factories import login, signup

DAY = "interval '1 day'"


async def age(pool: asyncpg.Pool, statement: str, *args: object) -> None:
    async with pool.acquire() as conn:
        await conn.execute(statement, *args)


async def counts(pool: asyncpg.Pool, tenant_id: str) -> tuple[int, int]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM sessions WHERE tenant_id = $1) AS sessions, "
            "(SELECT count(*) FROM refresh_tokens WHERE tenant_id = $1) AS tokens",
            UUID(tenant_id),
        )
    assert row is not None
    return row["sessions"], row["tokens"]


async def test_ended_sessions_expired_tokens_and_stale_throttle_rows_go(
    identity: Identity,
) -> None:
    client, pool = identity.client, identity.components.pool
    admin = await signup(client)
    expired = await login(client, admin.username)
    revoked = await login(client, admin.username)
    recently_revoked = await login(client, admin.username)
    live = await login(client, admin.username)
    # Ended 8 days ago (retention: 7), ended yesterday, still going.
    await age(
        pool,
        f"UPDATE sessions SET expires_at = now() - 8 * {DAY} WHERE id = $1",
        UUID(expired.session_id),
    )
    await age(
        pool,
        f"UPDATE sessions SET revoked_at = now() - 8 * {DAY} WHERE id = $1",
        UUID(revoked.session_id),
    )
    await age(
        pool,
        f"UPDATE sessions SET revoked_at = now() - {DAY} WHERE id = $1",
        UUID(recently_revoked.session_id),
    )
    # A refresh token of the live session expired long ago (rotated away): it goes alone.
    await age(
        pool,
        "INSERT INTO refresh_tokens (token_hash, session_id, tenant_id, expires_at)"
        f" VALUES (sha256(random()::text::bytea), $1, $2, now() - 8 * {DAY})",
        UUID(live.session_id),
        UUID(admin.tenant_id),
    )
    stale, locked, recent = (f"address:198.51.100.{n}" for n in (1, 2, 3))
    await age(
        pool,
        "INSERT INTO login_throttle (key, failures, window_started_at, locked_until) VALUES"
        f" ($1, 3, now() - {DAY}, now() - {DAY}),"
        f" ($2, 9, now() - {DAY}, now() + interval '1 hour'),"
        " ($3, 2, now(), NULL)",
        stale,
        locked,
        recent,
    )
    assert await counts(pool, admin.tenant_id) == (5, 6)

    pruned = await prune(pool, identity.settings)

    assert pruned.sessions >= 2 and pruned.refresh_tokens >= 1 and pruned.throttle_rows >= 1
    # The signup's session, the one revoked yesterday and the live one stay, with their tokens.
    assert await counts(pool, admin.tenant_id) == (3, 3)
    async with pool.acquire() as conn:
        kept = {row["key"] for row in await conn.fetch("SELECT key FROM login_throttle")}
    assert stale not in kept and {locked, recent} <= kept
    # The live login goes on: its refresh token rotates, its access token works.
    refreshed = await client.post("/auth/refresh", json={"refresh_token": live.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    assert (await client.get("/me", headers=live.headers)).status_code == 200
    # A pruned session's refresh token is refused like any unknown one.
    gone = await client.post("/auth/refresh", json={"refresh_token": expired.refresh_token})
    assert gone.status_code == 401, gone.text


async def test_the_service_prunes_by_itself_once_per_interval(
    database: str, servers: Servers, topic: str
) -> None:
    settings = identity_settings(database, servers, topic, prune_interval_s=1)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            admin = await signup(client)
            ended = await login(client, admin.username)
            pool = app.state.runtime.pool
            await age(
                pool,
                f"UPDATE sessions SET expires_at = now() - 8 * {DAY} WHERE id = $1",
                UUID(ended.session_id),
            )

            async def pruned() -> bool:
                return await counts(pool, admin.tenant_id) == (1, 1)

            await wait_until(pruned, timeout=15, message="the ended session to be pruned")
