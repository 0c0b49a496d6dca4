"""The tenant's last two admins removed at once: exactly one removal succeeds, the other is 409.

Both requests are held at their last write (the test holds the outbox table in SHARE mode, which
every use case's event insert waits for) until both have done what they do before it. Without a
lock on what the "another admin remains" check reads, both checks pass there and the tenant ends
with no admin; with it, the second request waits before its check and then reads the first's
committed change."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import pytest
from lookout_testing.waiting import wait_until

from .conftest import Identity
from .factories import Account, add_user, login, role_id, signup

# Transactions of identity that wait on a lock: at the event's insert, or at the check's lock.
_WAITING = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0
"""

Removal = Callable[[Identity, Account, Account], Awaitable[httpx.Response]]


async def deactivate(identity: Identity, caller: Account, target: Account) -> httpx.Response:
    return await identity.client.post(f"/users/{target.user_id}/deactivate", headers=caller.headers)


async def demote(identity: Identity, caller: Account, target: Account) -> httpx.Response:
    viewer = await role_id(identity.client, caller, "viewer")
    return await identity.client.patch(
        f"/users/{target.user_id}", json={"role_id": viewer}, headers=caller.headers
    )


@pytest.mark.parametrize("removal", [deactivate, demote], ids=["deactivate", "demote"])
async def test_two_concurrent_removals_of_the_last_two_admins_leave_one(
    identity: Identity, removal: Removal
) -> None:
    first = await signup(identity.client)
    second_user = await add_user(identity.client, first, role="admin")
    second = await login(identity.client, second_user["username"])

    holder = await asyncpg.connect(str(identity.settings.database_url))
    try:
        # The relay has nothing left to mark published: it takes no lock the test counts.
        async def relayed() -> bool:
            return not await holder.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            )

        await wait_until(relayed, timeout=10, message="the relay to publish the set-up's events")
        hold = holder.transaction()
        await hold.start()
        await holder.execute("LOCK TABLE outbox IN SHARE MODE")
        # Each admin removes the other.
        requests = [
            asyncio.ensure_future(removal(identity, first, second)),
            asyncio.ensure_future(removal(identity, second, first)),
        ]

        async def both_held() -> bool:
            return int(await holder.fetchval(_WAITING)) == 2

        await wait_until(both_held, timeout=10, message="both removals to wait on a lock")
        await hold.rollback()
        responses = await asyncio.gather(*requests)
    finally:
        await holder.close()

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 409], [response.text for response in responses]
    refused = next(response for response in responses if response.status_code == 409)
    assert refused.json()["error"]["code"] == "last_admin"
    async with identity.components.pool.acquire() as conn:
        admins = await conn.fetchval(
            "SELECT count(*) FROM users u JOIN roles r ON r.id = u.role_id "
            "WHERE u.tenant_id = $1 AND r.name = 'admin' AND u.is_active",
            uuid.UUID(first.tenant_id),
        )
    assert admins == 1
