"""SQL of ``login_throttle`` (not tenant data: an address belongs to no tenant)."""

from __future__ import annotations

import asyncpg


async def throttle_remaining_s(conn: asyncpg.Connection, keys: list[str]) -> float:
    """Seconds until every one of ``keys`` is unlocked (0 when none is locked)."""
    remaining = await conn.fetchval(
        "SELECT coalesce(max(extract(epoch FROM locked_until - now())), 0) FROM login_throttle "
        "WHERE key = ANY($1::text[]) AND locked_until > now()",
        keys,
    )
    return float(remaining)


async def record_failure(conn: asyncpg.Connection, key: str, window_s: float) -> int:
    """Count one failure for ``key`` in the current window; returns the failures in it."""
    failures = await conn.fetchval(
        "INSERT INTO login_throttle AS t (key, failures, window_started_at) "
        "VALUES ($1, 1, now()) ON CONFLICT (key) DO UPDATE SET "
        "failures = CASE WHEN t.window_started_at < now() - make_interval(secs => $2) "
        "THEN 1 ELSE t.failures + 1 END, "
        "window_started_at = CASE WHEN t.window_started_at < now() - make_interval(secs => $2) "
        "THEN now() ELSE t.window_started_at END "
        "RETURNING failures",
        key,
        window_s,
    )
    return int(failures)


async def lock_throttle_key(conn: asyncpg.Connection, key: str, lock_s: float) -> None:
    await conn.execute(
        "UPDATE login_throttle SET locked_until = now() + make_interval(secs => $2) WHERE key = $1",
        key,
        lock_s,
    )


async def clear_throttle(conn: asyncpg.Connection, key: str) -> None:
    await conn.execute("DELETE FROM login_throttle WHERE key = $1", key)


async def delete_stale(conn: asyncpg.Connection, window_s: float, limit: int) -> int:
    """Delete up to ``limit`` rows whose window is over and that lock nothing (the next failure of
    such a key would count from 1 anyway); how many went."""
    status: str = await conn.execute(
        "DELETE FROM login_throttle WHERE ctid IN (SELECT ctid FROM login_throttle "
        "WHERE window_started_at < now() - make_interval(secs => $1) "
        "AND (locked_until IS NULL OR locked_until < now()) LIMIT $2 FOR UPDATE SKIP LOCKED)",
        window_s,
        limit,
    )
    return int(status.split()[-1])
