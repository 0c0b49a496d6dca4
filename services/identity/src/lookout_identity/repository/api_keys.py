"""SQL of ``api_keys``; a key is found by its hash (it is the credential) before its tenant is known."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

API_KEY_COLUMNS = (
    "id, tenant_id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at"
)


async def insert_api_key(
    conn: asyncpg.Connection,
    *,
    api_key_id: UUID,
    tenant_id: UUID,
    user_id: UUID,
    name: str,
    key_hash: bytes,
    prefix: str,
    expires_at: datetime | None,
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO api_keys (id, tenant_id, user_id, name, key_hash, prefix, expires_at) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {API_KEY_COLUMNS}",
        api_key_id,
        tenant_id,
        user_id,
        name,
        key_hash,
        prefix,
        expires_at,
    )
    return row


async def list_api_keys(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND user_id = $2 "
        "ORDER BY created_at, id",
        tenant_id,
        user_id,
    )
    return rows


async def revoke_api_key(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, api_key_id: UUID
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = now() "
        "WHERE tenant_id = $1 AND user_id = $2 AND id = $3 AND revoked_at IS NULL "
        f"RETURNING {API_KEY_COLUMNS}",
        tenant_id,
        user_id,
        api_key_id,
    )
    return row


async def get_api_key(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, api_key_id: UUID
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND user_id = $2 AND id = $3",
        tenant_id,
        user_id,
        api_key_id,
    )
    return row


async def use_api_key(conn: asyncpg.Connection, key_hash: bytes) -> asyncpg.Record | None:
    """The usable key with this hash (it is the credential), marked as used now."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE api_keys SET last_used_at = now() WHERE key_hash = $1 AND revoked_at IS NULL "
        f"AND (expires_at IS NULL OR expires_at > now()) RETURNING {API_KEY_COLUMNS}",
        key_hash,
    )
    return row


async def api_key_state(
    conn: asyncpg.Connection, tenant_id: UUID, api_key_id: UUID, user_id: UUID
) -> asyncpg.Record | None:
    """What decides whether an access token of this API key is still good."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT k.revoked_at, k.expires_at, u.is_active, u.role_id, r.permissions_changed_at "
        "FROM api_keys k JOIN users u ON u.id = k.user_id AND u.tenant_id = k.tenant_id "
        "JOIN roles r ON r.id = u.role_id AND r.tenant_id = u.tenant_id "
        "WHERE k.tenant_id = $1 AND k.id = $2 AND k.user_id = $3",
        tenant_id,
        api_key_id,
        user_id,
    )
    return row
