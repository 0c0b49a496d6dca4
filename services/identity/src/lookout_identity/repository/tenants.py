"""SQL of ``tenants``; deleting a tenant removes everything identity holds of it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from lookout_kit.errors import Conflict

TENANT_COLUMNS = "id, name, slug, settings, created_at, updated_at"


async def insert_tenant(
    conn: asyncpg.Connection, name: str, slug: str, settings: dict[str, Any]
) -> asyncpg.Record:
    try:
        row: asyncpg.Record = await conn.fetchrow(
            f"INSERT INTO tenants (name, slug, settings) VALUES ($1, $2, $3) "
            f"RETURNING {TENANT_COLUMNS}",
            name,
            slug,
            settings,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict("a tenant with this slug exists", code="slug_taken") from None
    return row


async def get_tenant(conn: asyncpg.Connection, tenant_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1", tenant_id
    )
    return row


async def update_tenant(
    conn: asyncpg.Connection, tenant_id: UUID, name: str, settings: dict[str, Any]
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"UPDATE tenants SET name = $2, settings = $3, updated_at = now() WHERE id = $1 "
        f"RETURNING {TENANT_COLUMNS}",
        tenant_id,
        name,
        settings,
    )
    return row


async def lock_tenant(conn: asyncpg.Connection, tenant_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE", tenant_id
    )
    return row


async def delete_tenant(conn: asyncpg.Connection, tenant_id: UUID) -> bool:
    # Users reference roles of their tenant; remove them first, the rest cascades.
    await conn.execute("DELETE FROM users WHERE tenant_id = $1", tenant_id)
    status = await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
    return bool(status == "DELETE 1")
