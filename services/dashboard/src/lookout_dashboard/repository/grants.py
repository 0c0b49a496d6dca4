"""SQL of ``dashboard_permissions``: the per-dashboard grants to a user or a role."""

from __future__ import annotations

from uuid import UUID

import asyncpg

GRANT_COLUMNS = "id, dashboard_id, user_id, role_id, permission_type, granted_by, granted_at"


async def list_grants(conn: asyncpg.Connection, dashboard_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT {GRANT_COLUMNS} FROM dashboard_permissions WHERE dashboard_id = $1 "
            "ORDER BY granted_at, id",
            dashboard_id,
        )
    )


async def upsert_grant(
    conn: asyncpg.Connection,
    dashboard_id: UUID,
    *,
    user_id: UUID | None,
    role_id: UUID | None,
    permission: str,
    granted_by: UUID,
) -> asyncpg.Record:
    """Grant ``permission``, replacing an existing grant to the same grantee."""
    record: asyncpg.Record = await conn.fetchrow(
        f"""
        INSERT INTO dashboard_permissions (dashboard_id, user_id, role_id, permission_type, granted_by)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (dashboard_id, user_id, role_id)
        DO UPDATE SET permission_type = EXCLUDED.permission_type, granted_by = EXCLUDED.granted_by,
                      granted_at = NOW()
        RETURNING {GRANT_COLUMNS}
        """,
        dashboard_id,
        user_id,
        role_id,
        permission,
        granted_by,
    )
    return record


async def delete_grant(
    conn: asyncpg.Connection, dashboard_id: UUID, grant_id: UUID
) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await conn.fetchrow(
        f"DELETE FROM dashboard_permissions WHERE dashboard_id = $1 AND id = $2 RETURNING {GRANT_COLUMNS}",
        dashboard_id,
        grant_id,
    )
    return record


async def delete_grantee_grants(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    *,
    user_id: UUID | None = None,
    role_id: UUID | None = None,
) -> list[asyncpg.Record]:
    """Remove every grant of the tenant's dashboards to this user or this role (give one)."""
    column, grantee = ("user_id", user_id) if user_id is not None else ("role_id", role_id)
    assert grantee is not None, "name a user or a role"
    return list(
        await conn.fetch(
            f"""
            DELETE FROM dashboard_permissions p USING dashboards d
            WHERE d.id = p.dashboard_id AND d.tenant_id = $1 AND p.{column} = $2
            RETURNING {", ".join("p." + c.strip() for c in GRANT_COLUMNS.split(","))}
            """,
            tenant_id,
            grantee,
        )
    )
