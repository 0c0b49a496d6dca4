"""SQL of ``dashboard_versions``: every version's content, the current one included."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from lookout_dashboard.repository.dashboards import DashboardRow


async def insert_version(conn: asyncpg.Connection, row: DashboardRow, *, created_by: UUID) -> None:
    """Keep ``row`` as it is now as its version's history entry."""
    await conn.execute(
        """
        INSERT INTO dashboard_versions (dashboard_id, version, name, description, layout, components,
                                        filters, tags, is_public, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        """,
        row.id,
        row.version,
        row.name,
        row.description,
        row.layout,
        row.components,
        row.filters,
        row.tags,
        row.is_public,
        created_by,
    )


async def list_versions(
    conn: asyncpg.Connection, tenant_id: UUID, dashboard_id: UUID
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """
            SELECT v.version, v.name, v.created_by, v.created_at
            FROM dashboard_versions v
            JOIN dashboards d ON d.id = v.dashboard_id
            WHERE d.tenant_id = $1 AND v.dashboard_id = $2
            ORDER BY v.version DESC
            """,
            tenant_id,
            dashboard_id,
        )
    )


async def get_version(
    conn: asyncpg.Connection, tenant_id: UUID, dashboard_id: UUID, version: int
) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await conn.fetchrow(
        """
        SELECT v.version, v.name, v.description, v.layout, v.components, v.filters, v.tags,
               v.is_public, v.created_by, v.created_at
        FROM dashboard_versions v
        JOIN dashboards d ON d.id = v.dashboard_id
        WHERE d.tenant_id = $1 AND v.dashboard_id = $2 AND v.version = $3
        """,
        tenant_id,
        dashboard_id,
        version,
    )
    return record
