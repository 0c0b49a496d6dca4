"""SQL of ``users`` (every query names the tenant, except the login look-up that finds it)."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from lookout_kit.errors import Conflict

USER_COLUMNS = (
    "id, username, email, first_name, last_name, tenant_id, role_id, is_active, "
    "created_at, updated_at, last_login_at"
)

# The unique constraints of users a caller can break (the lower() indexes make login
# case-insensitive, so they name the same conflicts as the plain ones).
_CONFLICTS = {
    "users_username_key": ("username_taken", "this username is taken"),
    "users_username_lower": ("username_taken", "this username is taken"),
    "users_email_key": ("email_taken", "this email is taken"),
    "users_email_lower": ("email_taken", "this email is taken"),
}


def _conflict(error: asyncpg.UniqueViolationError) -> Conflict:
    code, message = _CONFLICTS.get(
        getattr(error, "constraint_name", "") or "", ("conflict", "already exists")
    )
    return Conflict(message, code=code)


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
) -> asyncpg.Record:
    try:
        row: asyncpg.Record = await conn.fetchrow(
            "INSERT INTO users (tenant_id, username, email, password_hash, first_name, "
            f"last_name, role_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}",
            tenant_id,
            username,
            email,
            password_hash,
            first_name,
            last_name,
            role_id,
        )
    except asyncpg.UniqueViolationError as error:
        raise _conflict(error) from None
    return row


async def list_users(
    conn: asyncpg.Connection, tenant_id: UUID, *, limit: int, offset: int
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 "
        "ORDER BY created_at, id LIMIT $2 OFFSET $3",
        tenant_id,
        limit,
        offset,
    )
    return rows


async def get_user(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2", tenant_id, user_id
    )
    return row


async def lock_user(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE tenant_id = $1 AND id = $2 "
        "FOR UPDATE",
        tenant_id,
        user_id,
    )
    return row


async def find_login(conn: asyncpg.Connection, login: str) -> asyncpg.Record | None:
    """The user whose username or email is ``login`` (case-insensitive); before any tenant."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users "
        "WHERE lower(username) = lower($1) OR lower(email) = lower($1) LIMIT 1",
        login,
    )
    return row


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
) -> asyncpg.Record | None:
    try:
        row: asyncpg.Record | None = await conn.fetchrow(
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
    except asyncpg.UniqueViolationError as error:
        raise _conflict(error) from None
    return row


async def set_user_active(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, active: bool
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE users SET is_active = $3, updated_at = now() "
        f"WHERE tenant_id = $1 AND id = $2 RETURNING {USER_COLUMNS}",
        tenant_id,
        user_id,
        active,
    )
    return row


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
