"""The only module of identity that speaks SQL (asyncpg, $n parameters, named columns).

Every query of tenant data names the tenant in its WHERE. The exceptions are the look-ups that come
*before* a tenant is known and are keyed by a credential: the login name, a refresh token's hash, an
API key's hash; and the tenant-less tables (signing keys, login throttling).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

Record: TypeAlias = asyncpg.Record

TENANT_COLUMNS = "id, name, slug, settings, created_at, updated_at"
USER_COLUMNS = (
    "id, username, email, first_name, last_name, tenant_id, role_id, is_active, "
    "created_at, updated_at, last_login_at"
)
ROLE_COLUMNS = "id, name, description, tenant_id, is_builtin, created_at, updated_at"
PERMISSION_COLUMNS = "id, role_id, resource, action, conditions, created_at"
API_KEY_COLUMNS = (
    "id, tenant_id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at"
)


# Tenants -----------------------------------------------------------------------------------------


async def insert_tenant(
    conn: asyncpg.Connection, name: str, slug: str, settings: dict[str, Any]
) -> Record:
    return await conn.fetchrow(
        f"INSERT INTO tenants (name, slug, settings) VALUES ($1, $2, $3) RETURNING {TENANT_COLUMNS}",
        name,
        slug,
        settings,
    )


async def get_tenant(conn: asyncpg.Connection, tenant_id: UUID) -> Record | None:
    return await conn.fetchrow(f"SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1", tenant_id)


async def update_tenant(
    conn: asyncpg.Connection, tenant_id: UUID, name: str, settings: dict[str, Any]
) -> Record | None:
    return await conn.fetchrow(
        f"UPDATE tenants SET name = $2, settings = $3, updated_at = now() WHERE id = $1 "
        f"RETURNING {TENANT_COLUMNS}",
        tenant_id,
        name,
        settings,
    )


async def lock_tenant(conn: asyncpg.Connection, tenant_id: UUID) -> Record | None:
    return await conn.fetchrow(
        f"SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE", tenant_id
    )


async def delete_tenant(conn: asyncpg.Connection, tenant_id: UUID) -> bool:
    # Users reference roles of their tenant; remove them first, the rest cascades.
    await conn.execute("DELETE FROM users WHERE tenant_id = $1", tenant_id)
    status = await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
    return bool(status == "DELETE 1")


# Roles and permissions ---------------------------------------------------------------------------


async def insert_role(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    name: str,
    description: str | None,
    *,
    is_builtin: bool,
) -> Record:
    return await conn.fetchrow(
        "INSERT INTO roles (tenant_id, name, description, is_builtin) VALUES ($1, $2, $3, $4) "
        f"RETURNING {ROLE_COLUMNS}",
        tenant_id,
        name,
        description,
        is_builtin,
    )


async def list_roles(conn: asyncpg.Connection, tenant_id: UUID) -> list[Record]:
    return await conn.fetch(
        f"SELECT {ROLE_COLUMNS} FROM roles WHERE tenant_id = $1 ORDER BY name", tenant_id
    )


async def get_role(conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID) -> Record | None:
    return await conn.fetchrow(
        f"SELECT {ROLE_COLUMNS} FROM roles WHERE tenant_id = $1 AND id = $2", tenant_id, role_id
    )


async def get_role_by_name(conn: asyncpg.Connection, tenant_id: UUID, name: str) -> Record | None:
    return await conn.fetchrow(
        f"SELECT {ROLE_COLUMNS} FROM roles WHERE tenant_id = $1 AND name = $2", tenant_id, name
    )


async def lock_role(conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID) -> Record | None:
    return await conn.fetchrow(
        f"SELECT {ROLE_COLUMNS} FROM roles WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant_id,
        role_id,
    )


async def update_role(
    conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID, name: str, description: str | None
) -> Record | None:
    return await conn.fetchrow(
        "UPDATE roles SET name = $3, description = $4, updated_at = now() "
        f"WHERE tenant_id = $1 AND id = $2 RETURNING {ROLE_COLUMNS}",
        tenant_id,
        role_id,
        name,
        description,
    )


async def mark_role_permissions_changed(
    conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID
) -> None:
    await conn.execute(
        "UPDATE roles SET permissions_changed_at = now(), updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        role_id,
    )


async def count_role_users(conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID) -> int:
    count = await conn.fetchval(
        "SELECT count(*) FROM users WHERE tenant_id = $1 AND role_id = $2", tenant_id, role_id
    )
    return int(count)


async def delete_role(conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID) -> bool:
    status = await conn.execute(
        "DELETE FROM roles WHERE tenant_id = $1 AND id = $2", tenant_id, role_id
    )
    return bool(status == "DELETE 1")


async def insert_permission(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    role_id: UUID,
    resource: str,
    action: str,
    conditions: dict[str, Any] | None,
) -> Record:
    return await conn.fetchrow(
        "INSERT INTO permissions (tenant_id, role_id, resource, action, conditions) "
        f"VALUES ($1, $2, $3, $4, $5) RETURNING {PERMISSION_COLUMNS}",
        tenant_id,
        role_id,
        resource,
        action,
        conditions,
    )


async def list_permissions(
    conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID
) -> list[Record]:
    return await conn.fetch(
        f"SELECT {PERMISSION_COLUMNS} FROM permissions WHERE tenant_id = $1 AND role_id = $2 "
        "ORDER BY resource, action, created_at",
        tenant_id,
        role_id,
    )


async def delete_permission(
    conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID, permission_id: UUID
) -> Record | None:
    return await conn.fetchrow(
        "DELETE FROM permissions WHERE tenant_id = $1 AND role_id = $2 AND id = $3 "
        f"RETURNING {PERMISSION_COLUMNS}",
        tenant_id,
        role_id,
        permission_id,
    )


# Users -------------------------------------------------------------------------------------------


async def insert_user(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    username: str,
    email: str,
    password_hash: str,
    first_name: str | None,
    last_name: str | None,
    role_id: UUID,
) -> Record:
    return await conn.fetchrow(
        "INSERT INTO users (tenant_id, username, email, password_hash, first_name, last_name, "
        f"role_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}",
        tenant_id,
        username,
        email,
        password_hash,
        first_name,
        last_name,
        role_id,
    )


async def list_users(
    conn: asyncpg.Connection, tenant_id: UUID, *, limit: int, offset: int
) -> list[Record]:
    return await conn.fetch(
        f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 "
        "ORDER BY created_at, id LIMIT $2 OFFSET $3",
        tenant_id,
        limit,
        offset,
    )


async def get_user(conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID) -> Record | None:
    return await conn.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2", tenant_id, user_id
    )


async def lock_user(conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID) -> Record | None:
    return await conn.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE tenant_id = $1 AND id = $2 "
        "FOR UPDATE",
        tenant_id,
        user_id,
    )


async def find_login(conn: asyncpg.Connection, login: str) -> Record | None:
    """The user whose username or email is ``login`` (case-insensitive); before any tenant."""
    return await conn.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users "
        "WHERE lower(username) = lower($1) OR lower(email) = lower($1) LIMIT 1",
        login,
    )


async def update_user(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    user_id: UUID,
    *,
    username: str,
    email: str,
    first_name: str | None,
    last_name: str | None,
    role_id: UUID,
) -> Record | None:
    return await conn.fetchrow(
        "UPDATE users SET username = $3, email = $4, first_name = $5, last_name = $6, "
        "role_id = $7, updated_at = now() "
        f"WHERE tenant_id = $1 AND id = $2 RETURNING {USER_COLUMNS}",
        tenant_id,
        user_id,
        username,
        email,
        first_name,
        last_name,
        role_id,
    )


async def set_user_active(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, active: bool
) -> Record | None:
    return await conn.fetchrow(
        "UPDATE users SET is_active = $3, updated_at = now() "
        f"WHERE tenant_id = $1 AND id = $2 RETURNING {USER_COLUMNS}",
        tenant_id,
        user_id,
        active,
    )


async def set_password_hash(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, password_hash: str
) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        user_id,
        password_hash,
    )


async def record_login(conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID) -> None:
    await conn.execute(
        "UPDATE users SET last_login_at = now() WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        user_id,
    )


async def delete_user(conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID) -> bool:
    status = await conn.execute(
        "DELETE FROM users WHERE tenant_id = $1 AND id = $2", tenant_id, user_id
    )
    return bool(status == "DELETE 1")


async def successor_admin(
    conn: asyncpg.Connection, tenant_id: UUID, admin_role_id: UUID, excluding: UUID
) -> UUID | None:
    """The longest-standing active admin other than ``excluding``."""
    found = await conn.fetchval(
        "SELECT id FROM users WHERE tenant_id = $1 AND role_id = $2 AND id <> $3 AND is_active "
        "ORDER BY created_at, id LIMIT 1",
        tenant_id,
        admin_role_id,
        excluding,
    )
    return found if found is None else UUID(str(found))


# Sessions and refresh tokens ---------------------------------------------------------------------


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
) -> Record | None:
    """What decides whether an access token of this session is still good."""
    return await conn.fetchrow(
        "SELECT s.revoked_at, s.expires_at, u.is_active, u.role_id, r.permissions_changed_at "
        "FROM sessions s JOIN users u ON u.id = s.user_id AND u.tenant_id = s.tenant_id "
        "JOIN roles r ON r.id = u.role_id AND r.tenant_id = u.tenant_id "
        "WHERE s.tenant_id = $1 AND s.id = $2 AND s.user_id = $3",
        tenant_id,
        session_id,
        user_id,
    )


async def revoke_session(
    conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID, reason: str
) -> Record | None:
    """End the session if still active; returns it (None when it was already ended)."""
    return await conn.fetchrow(
        "UPDATE sessions SET revoked_at = now(), revoke_reason = $3 "
        "WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL RETURNING id, user_id",
        tenant_id,
        session_id,
        reason,
    )


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


async def spend_refresh_token(conn: asyncpg.Connection, token_hash: bytes) -> Record | None:
    """Find the refresh token by hash (it is the credential) and spend it in one step.

    ``was_spent`` is true when it had been spent before: a reuse. The row lock of the UPDATE makes
    two concurrent uses of one token see one success and one reuse.
    """
    return await conn.fetchrow(
        "WITH previous AS (SELECT token_hash, spent_at FROM refresh_tokens "
        "WHERE token_hash = $1 FOR UPDATE) "
        "UPDATE refresh_tokens t SET spent_at = coalesce(t.spent_at, now()) FROM previous p "
        "WHERE t.token_hash = p.token_hash "
        "RETURNING t.session_id, t.tenant_id, t.expires_at, p.spent_at IS NOT NULL AS was_spent",
        token_hash,
    )


async def get_session_user(
    conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID
) -> Record | None:
    return await conn.fetchrow(
        "SELECT s.id AS session_id, s.revoked_at, s.expires_at, "
        f"{', '.join('u.' + c.strip() for c in USER_COLUMNS.split(','))} "
        "FROM sessions s JOIN users u ON u.id = s.user_id AND u.tenant_id = s.tenant_id "
        "WHERE s.tenant_id = $1 AND s.id = $2 FOR UPDATE OF s",
        tenant_id,
        session_id,
    )


# API keys ----------------------------------------------------------------------------------------


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
) -> Record:
    return await conn.fetchrow(
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


async def list_api_keys(conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID) -> list[Record]:
    return await conn.fetch(
        f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND user_id = $2 "
        "ORDER BY created_at, id",
        tenant_id,
        user_id,
    )


async def revoke_api_key(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, api_key_id: UUID
) -> Record | None:
    return await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = now() "
        "WHERE tenant_id = $1 AND user_id = $2 AND id = $3 AND revoked_at IS NULL "
        f"RETURNING {API_KEY_COLUMNS}",
        tenant_id,
        user_id,
        api_key_id,
    )


async def get_api_key(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, api_key_id: UUID
) -> Record | None:
    return await conn.fetchrow(
        f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND user_id = $2 AND id = $3",
        tenant_id,
        user_id,
        api_key_id,
    )


async def use_api_key(conn: asyncpg.Connection, key_hash: bytes) -> Record | None:
    """The usable key with this hash (it is the credential), marked as used now."""
    return await conn.fetchrow(
        "UPDATE api_keys SET last_used_at = now() WHERE key_hash = $1 AND revoked_at IS NULL "
        f"AND (expires_at IS NULL OR expires_at > now()) RETURNING {API_KEY_COLUMNS}",
        key_hash,
    )


async def api_key_state(
    conn: asyncpg.Connection, tenant_id: UUID, api_key_id: UUID, user_id: UUID
) -> Record | None:
    return await conn.fetchrow(
        "SELECT k.revoked_at, k.expires_at, u.is_active, u.role_id, r.permissions_changed_at "
        "FROM api_keys k JOIN users u ON u.id = k.user_id AND u.tenant_id = k.tenant_id "
        "JOIN roles r ON r.id = u.role_id AND r.tenant_id = u.tenant_id "
        "WHERE k.tenant_id = $1 AND k.id = $2 AND k.user_id = $3",
        tenant_id,
        api_key_id,
        user_id,
    )


# Signing keys (not tenant data) ------------------------------------------------------------------


async def lock_signing_keys(conn: asyncpg.Connection) -> None:
    """Serialise key rotation between replicas (transaction-scoped advisory lock)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('lookout_identity.signing_keys'))")


async def newest_signing_key(conn: asyncpg.Connection) -> Record | None:
    return await conn.fetchrow(
        "SELECT kid, private_key_encrypted, created_at FROM signing_keys "
        "WHERE retired_at IS NULL AND private_key_encrypted IS NOT NULL "
        "ORDER BY created_at DESC LIMIT 1"
    )


async def insert_signing_key(
    conn: asyncpg.Connection, kid: str, public_jwk: dict[str, Any], encrypted: bytes
) -> Record:
    return await conn.fetchrow(
        "INSERT INTO signing_keys (kid, public_jwk, private_key_encrypted) VALUES ($1, $2, $3) "
        "RETURNING kid, private_key_encrypted, created_at",
        kid,
        public_jwk,
        encrypted,
    )


async def retire_signing_keys(conn: asyncpg.Connection, keep: str, published_for_s: float) -> None:
    """Stop signing with every key but ``keep``; publish them ``published_for_s`` longer, and
    drop the private half (it will never sign again)."""
    await conn.execute(
        "UPDATE signing_keys SET retired_at = now(), private_key_encrypted = NULL, "
        "published_until = now() + make_interval(secs => $2) "
        "WHERE kid <> $1 AND retired_at IS NULL",
        keep,
        published_for_s,
    )


async def published_keys(conn: asyncpg.Connection) -> list[Record]:
    return await conn.fetch(
        "SELECT public_jwk FROM signing_keys "
        "WHERE published_until IS NULL OR published_until > now() ORDER BY created_at DESC"
    )


# Login throttling (not tenant data) --------------------------------------------------------------


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
