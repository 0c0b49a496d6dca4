"""SQL of ``roles`` and their ``permissions`` (every query names the tenant)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from lookout_kit.errors import Conflict

ROLE_COLUMNS = "id, name, description, tenant_id, is_builtin, created_at, updated_at"
PERMISSION_COLUMNS = "id, role_id, resource, action, conditions, created_at"


def _name_taken() -> Conflict:
    # roles_tenant_id_name_key: the only unique constraint a caller can break.
    return Conflict("a role with this name exists", code="role_name_taken")


async def insert_role(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    name: str,
    description: str | None,
    *,
    is_builtin: bool,
) -> asyncpg.Record:
    try:
        row: asyncpg.Record = await conn.fetchrow(
            "INSERT INTO roles (tenant_id, name, description, is_builtin) VALUES ($1, $2, $3, $4) "
            f"RETURNING {ROLE_COLUMNS}",
            tenant_id,
            name,
            description,
            is_builtin,
        )
    except asyncpg.UniqueViolationError:
        raise _name_taken() from None
    return row


async def list_roles(conn: asyncpg.Connection, tenant_id: UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {ROLE_COLUMNS} FROM roles WHERE tenant_id = $1 ORDER BY name", tenant_id
    )
    return rows


async def get_role(
    conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {ROLE_COLUMNS} FROM roles WHERE tenant_id = $1 AND id = $2", tenant_id, role_id
    )
    return row


async def get_role_by_name(
    conn: asyncpg.Connection, tenant_id: UUID, name: str
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {ROLE_COLUMNS} FROM roles WHERE tenant_id = $1 AND name = $2", tenant_id, name
    )
    return row


async def hold_role_assignments(conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID) -> None:
    """Serialise the changes that may take users out of a role (e.g. "another admin remains"):
    the role's row lock, in the mode that still lets other transactions reference the role."""
    await conn.execute(
        "SELECT 1 FROM roles WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE",
        tenant_id,
        role_id,
    )


async def lock_role(
    conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {ROLE_COLUMNS} FROM roles WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant_id,
        role_id,
    )
    return row


async def update_role(
    conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID, name: str, description: str | None
) -> asyncpg.Record | None:
    try:
        row: asyncpg.Record | None = await conn.fetchrow(
            "UPDATE roles SET name = $3, description = $4, updated_at = now() "
            f"WHERE tenant_id = $1 AND id = $2 RETURNING {ROLE_COLUMNS}",
            tenant_id,
            role_id,
            name,
            description,
        )
    except asyncpg.UniqueViolationError:
        raise _name_taken() from None
    return row


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
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO permissions (tenant_id, role_id, resource, action, conditions) "
        f"VALUES ($1, $2, $3, $4, $5) RETURNING {PERMISSION_COLUMNS}",
        tenant_id,
        role_id,
        resource,
        action,
        conditions,
    )
    return row


async def list_permissions(
    conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {PERMISSION_COLUMNS} FROM permissions WHERE tenant_id = $1 AND role_id = $2 "
        "ORDER BY resource, action, created_at",
        tenant_id,
        role_id,
    )
    return rows


async def delete_permission(
    conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID, permission_id: UUID
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "DELETE FROM permissions WHERE tenant_id = $1 AND role_id = $2 AND id = $3 "
        f"RETURNING {PERMISSION_COLUMNS}",
        tenant_id,
        role_id,
        permission_id,
    )
    return row
