"""SQL of ``sessions`` and their ``refresh_tokens``; a refresh token is found by its hash (it is the
credential) before its tenant is known."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from lookout_identity.repository.users import USER_COLUMNS


async def insert_session(
    conn: asyncpg.Connection,
    *,
    session_id: UUID,
    tenant_id: UUID,
    user_id: UUID,
    client_address: str | None,
    expires_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO sessions (id, tenant_id, user_id, client_address, expires_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        session_id,
        tenant_id,
        user_id,
        client_address,
        expires_at,
    )


async def session_state(
    conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID, user_id: UUID
) -> asyncpg.Record | None:
    """What decides whether an access token of this session is still good."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT s.revoked_at, s.expires_at, u.is_active, u.role_id, r.permissions_changed_at "
        "FROM sessions s JOIN users u ON u.id = s.user_id AND u.tenant_id = s.tenant_id "
        "JOIN roles r ON r.id = u.role_id AND r.tenant_id = u.tenant_id "
        "WHERE s.tenant_id = $1 AND s.id = $2 AND s.user_id = $3",
        tenant_id,
        session_id,
        user_id,
    )
    return row


async def revoke_session(
    conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID, reason: str
) -> asyncpg.Record | None:
    """End the session if still active; returns it (None when it was already ended)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE sessions SET revoked_at = now(), revoke_reason = $3 "
        "WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL RETURNING id, user_id",
        tenant_id,
        session_id,
        reason,
    )
    return row


async def revoke_user_sessions(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    user_id: UUID,
    reason: str,
    *,
    keep: UUID | None = None,
) -> list[UUID]:
    rows = await conn.fetch(
        "UPDATE sessions SET revoked_at = now(), revoke_reason = $3 "
        "WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now() "
        "AND id IS DISTINCT FROM $4 RETURNING id",
        tenant_id,
        user_id,
        reason,
        keep,
    )
    return [row["id"] for row in rows]


async def get_session_user(
    conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT s.id AS session_id, s.revoked_at, s.expires_at, "
        f"{', '.join('u.' + c.strip() for c in USER_COLUMNS.split(','))} "
        "FROM sessions s JOIN users u ON u.id = s.user_id AND u.tenant_id = s.tenant_id "
        "WHERE s.tenant_id = $1 AND s.id = $2 FOR UPDATE OF s",
        tenant_id,
        session_id,
    )
    return row


async def insert_refresh_token(
    conn: asyncpg.Connection,
    *,
    token_hash: bytes,
    session_id: UUID,
    tenant_id: UUID,
    expires_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id, tenant_id, expires_at) "
        "VALUES ($1, $2, $3, $4)",
        token_hash,
        session_id,
        tenant_id,
        expires_at,
    )


async def spend_refresh_token(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    """Find the refresh token by hash (it is the credential) and spend it in one step.

    ``was_spent`` is true when it had been spent before: a reuse. The row lock of the UPDATE makes
    two concurrent uses of one token see one success and one reuse.
    """
    row: asyncpg.Record | None = await conn.fetchrow(
        "WITH previous AS (SELECT token_hash, spent_at FROM refresh_tokens "
        "WHERE token_hash = $1 FOR UPDATE) "
        "UPDATE refresh_tokens t SET spent_at = coalesce(t.spent_at, now()) FROM previous p "
        "WHERE t.token_hash = p.token_hash "
        "RETURNING t.session_id, t.tenant_id, t.expires_at, p.spent_at IS NOT NULL AS was_spent",
        token_hash,
    )
    return row


async def delete_ended_sessions(conn: asyncpg.Connection, retention_s: float, limit: int) -> int:
    """Delete up to ``limit`` sessions that expired or were revoked more than ``retention_s`` ago
    (their refresh tokens go with them); how many went."""
    status: str = await conn.execute(
        "DELETE FROM sessions WHERE ctid IN (SELECT ctid FROM sessions "
        "WHERE least(expires_at, coalesce(revoked_at, expires_at)) "
        "< now() - make_interval(secs => $1) LIMIT $2 FOR UPDATE SKIP LOCKED)",
        retention_s,
        limit,
    )
    return int(status.split()[-1])


async def delete_expired_refresh_tokens(
    conn: asyncpg.Connection, retention_s: float, limit: int
) -> int:
    """Delete up to ``limit`` refresh tokens expired more than ``retention_s`` ago (a spent one
    is kept until then: its reuse still ends its session); how many went."""
    status: str = await conn.execute(
        "DELETE FROM refresh_tokens WHERE ctid IN (SELECT ctid FROM refresh_tokens "
        "WHERE expires_at < now() - make_interval(secs => $1) LIMIT $2 FOR UPDATE SKIP LOCKED)",
        retention_s,
        limit,
    )
    return int(status.split()[-1])
