"""Failed-login throttling per account and per client address: counting failures, locking with a
doubling backoff, and refusing a locked login before any password is checked."""

from __future__ import annotations

import math
from typing import NoReturn

import asyncpg
from lookout_contracts.events import identity as events
from lookout_kit.errors import TooManyRequests

from lookout_identity import repository
from lookout_identity.components import Components
from lookout_identity.events import publish


def throttle_keys(user: asyncpg.Record | None, address: str | None) -> list[str]:
    """The keys a login attempt counts against: its account (when the login names one) and its
    client address (when known)."""
    keys = []
    if user is not None:
        keys.append(f"account:{user['id']}")
    if address is not None:
        keys.append(f"address:{address}")
    return keys


async def refuse_throttled(
    components: Components, user: asyncpg.Record | None, address: str | None, remaining_s: float
) -> NoReturn:
    """429 with the seconds to wait; the account's owner sees the attempt as ``user.login_failed``."""
    if user is not None:
        async with components.pool.acquire() as conn, conn.transaction():
            await publish(
                conn,
                components.settings,
                "user.login_failed",
                tenant_id=user["tenant_id"],
                subject_id=user["id"],
                data=events.UserLoginFailedV1(reason="throttled", client_address=address),
            )
    raise TooManyRequests(
        "too many failed logins; try again later",
        details={"retry_after_s": max(1, math.ceil(remaining_s))},
    )


async def record_failed_login(
    components: Components,
    user: asyncpg.Record | None,
    address: str | None,
    reason: str,
) -> None:
    """Count the failure against each key, lock a key past its threshold, and publish
    ``user.login_failed`` when the login named an existing user."""
    settings = components.settings
    async with components.pool.acquire() as conn, conn.transaction():
        thresholds = []
        if user is not None:
            thresholds.append((f"account:{user['id']}", settings.throttle_account_threshold))
        if address is not None:
            thresholds.append((f"address:{address}", settings.throttle_address_threshold))
        for key, threshold in thresholds:
            failures = await repository.login_throttle.record_failure(
                conn, key, settings.throttle_window_s
            )
            if failures >= threshold:
                # Each failure past the threshold doubles the lock, up to the maximum.
                lock_s = min(
                    settings.throttle_base_lock_s * 2 ** min(failures - threshold, 20),
                    settings.throttle_max_lock_s,
                )
                await repository.login_throttle.lock_throttle_key(conn, key, lock_s)
        if user is not None:
            await publish(
                conn,
                settings,
                "user.login_failed",
                tenant_id=user["tenant_id"],
                subject_id=user["id"],
                data=events.UserLoginFailedV1(reason=reason, client_address=address),
            )
