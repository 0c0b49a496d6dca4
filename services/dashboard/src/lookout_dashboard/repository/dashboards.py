"""SQL of ``dashboards``: rows, content updates, publishing, search, and the identity cleanups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from lookout_kit.auth.conditions import Conditions

DASHBOARD_COLUMNS = (
    "id, name, description, tenant_id, owner_id, layout, components, filters, tags, is_public, "
    "version, created_at, updated_at, published_at"
)
VERSIONED_FIELDS = ("name", "description", "layout", "components", "filters", "tags", "is_public")


@dataclass(frozen=True)
class DashboardRow:
    id: UUID
    name: str
    description: str | None
    tenant_id: UUID
    owner_id: UUID
    layout: dict[str, Any]
    components: list[Any]
    filters: list[Any] | None
    tags: list[str]
    is_public: bool
    version: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None

    @classmethod
    def of(cls, record: asyncpg.Record) -> DashboardRow:
        return cls(**{key: record[key] for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Content:
    """The versioned part of a dashboard."""

    name: str
    description: str | None
    layout: dict[str, Any]
    components: list[Any]
    filters: list[Any] | None
    tags: list[str]
    is_public: bool

    @classmethod
    def of(cls, row: DashboardRow | asyncpg.Record) -> Content:
        """The content of a dashboard row or of a ``dashboard_versions`` record."""
        if isinstance(row, DashboardRow):
            return cls(**{name: getattr(row, name) for name in VERSIONED_FIELDS})
        return cls(**{name: row[name] for name in VERSIONED_FIELDS})


async def insert_dashboard(
    conn: asyncpg.Connection, *, tenant_id: UUID, owner_id: UUID, content: Content
) -> DashboardRow:
    record = await conn.fetchrow(
        f"""
        INSERT INTO dashboards (name, description, tenant_id, owner_id, layout, components, filters,
                                tags, is_public)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        RETURNING {DASHBOARD_COLUMNS}
        """,
        content.name,
        content.description,
        tenant_id,
        owner_id,
        content.layout,
        content.components,
        content.filters,
        content.tags,
        content.is_public,
    )
    return DashboardRow.of(record)


async def get_dashboard_and_grants(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    dashboard_id: UUID,
    user_id: UUID,
    role_id: UUID,
    *,
    for_update: bool = False,
) -> tuple[DashboardRow, list[str]] | None:
    """A dashboard and the permissions granted on it to this user or role, in one round trip."""
    lock = " FOR UPDATE OF d" if for_update else ""
    record = await conn.fetchrow(
        f"""
        SELECT {DASHBOARD_COLUMNS},
               ARRAY(SELECT p.permission_type FROM dashboard_permissions p
                     WHERE p.dashboard_id = d.id AND (p.user_id = $3 OR p.role_id = $4)) AS granted
        FROM dashboards d
        WHERE d.tenant_id = $1 AND d.id = $2{lock}
        """,
        tenant_id,
        dashboard_id,
        user_id,
        role_id,
    )
    if record is None:
        return None
    return DashboardRow.of(record), list(record["granted"])


async def update_content(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    dashboard_id: UUID,
    *,
    expected_version: int,
    content: Content,
) -> DashboardRow | None:
    """Write new content as version + 1 if the dashboard is still at ``expected_version``."""
    record = await conn.fetchrow(
        f"""
        UPDATE dashboards
        SET name = $4, description = $5, layout = $6, components = $7, filters = $8, tags = $9,
            is_public = $10, version = version + 1, updated_at = NOW()
        WHERE tenant_id = $1 AND id = $2 AND version = $3
        RETURNING {DASHBOARD_COLUMNS}
        """,
        tenant_id,
        dashboard_id,
        expected_version,
        content.name,
        content.description,
        content.layout,
        content.components,
        content.filters,
        content.tags,
        content.is_public,
    )
    return None if record is None else DashboardRow.of(record)


async def set_published(
    conn: asyncpg.Connection, tenant_id: UUID, dashboard_id: UUID, published: bool
) -> DashboardRow | None:
    record = await conn.fetchrow(
        f"""
        UPDATE dashboards
        SET published_at = CASE WHEN $3 THEN coalesce(published_at, NOW()) ELSE NULL END,
            updated_at = NOW()
        WHERE tenant_id = $1 AND id = $2
        RETURNING {DASHBOARD_COLUMNS}
        """,
        tenant_id,
        dashboard_id,
        published,
    )
    return None if record is None else DashboardRow.of(record)


async def delete_dashboard(conn: asyncpg.Connection, tenant_id: UUID, dashboard_id: UUID) -> bool:
    status = await conn.execute(
        "DELETE FROM dashboards WHERE tenant_id = $1 AND id = $2", tenant_id, dashboard_id
    )
    return bool(status != "DELETE 0")


async def delete_tenant(conn: asyncpg.Connection, tenant_id: UUID) -> list[UUID]:
    """Delete the tenant's dashboards (grants and versions cascade); return their ids."""
    records = await conn.fetch(
        "DELETE FROM dashboards WHERE tenant_id = $1 RETURNING id", tenant_id
    )
    return [record["id"] for record in records]


async def move_dashboards(
    conn: asyncpg.Connection, tenant_id: UUID, from_owner: UUID, to_owner: UUID
) -> list[DashboardRow]:
    records = await conn.fetch(
        f"""
        UPDATE dashboards SET owner_id = $3, updated_at = NOW()
        WHERE tenant_id = $1 AND owner_id = $2
        RETURNING {DASHBOARD_COLUMNS}
        """,
        tenant_id,
        from_owner,
        to_owner,
    )
    return [DashboardRow.of(record) for record in records]


# -- search ----------------------------------------------------------------------------------------

SUMMARY_COLUMNS = (
    "id, name, description, owner_id, tags, is_public, version, updated_at, published_at"
)


@dataclass(frozen=True)
class SearchQuery:
    text: str | None = None
    tags_any: list[str] | None = None
    tags_all: list[str] | None = None
    owner_id: UUID | None = None
    published: bool | None = None
    sort: str = "-updated_at"
    limit: int = 50
    after: tuple[Any, UUID] | None = None  # (sort value, id) of the previous page's last row


@dataclass(frozen=True)
class Visibility:
    """Which dashboards the caller may see: its own, public ones, granted ones, and those its role's
    permissions reach (``everything``, or any clause of ``clauses``: each clause's conditions must
    all hold)."""

    user_id: UUID
    role_id: UUID
    everything: bool = False
    clauses: tuple[Conditions, ...] = ()


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(
    conn: asyncpg.Connection, tenant_id: UUID, visibility: Visibility, query: SearchQuery
) -> list[asyncpg.Record]:
    params: list[Any] = [tenant_id]

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    where = ["tenant_id = $1"]
    if not visibility.everything:
        user, role = param(visibility.user_id), param(visibility.role_id)
        seen = [
            f"owner_id = {user}",
            "is_public",
            f"id IN (SELECT dashboard_id FROM dashboard_permissions WHERE user_id = {user} OR role_id = {role})",
        ]
        for clause in visibility.clauses:
            parts = []
            if clause.owner_only:
                parts.append(f"owner_id = {user}")
            if clause.ids is not None:
                parts.append(f"id::text = ANY({param(list(clause.ids))}::text[])")
            if clause.tags_any is not None:
                parts.append(f"tags && {param(list(clause.tags_any))}::text[]")
            if parts:
                seen.append("(" + " AND ".join(parts) + ")")
        where.append("(" + " OR ".join(seen) + ")")
    if query.text:
        where.append(
            f"(name || ' ' || coalesce(description, '')) ILIKE {param(_like_pattern(query.text))}"
        )
    if query.tags_any:
        where.append(f"tags && {param(query.tags_any)}::text[]")
    if query.tags_all:
        where.append(f"tags @> {param(query.tags_all)}::text[]")
    if query.owner_id is not None:
        where.append(f"owner_id = {param(query.owner_id)}")
    if query.published is not None:
        where.append("published_at IS NOT NULL" if query.published else "published_at IS NULL")
    column = query.sort.lstrip("-")
    descending = query.sort.startswith("-")
    if query.after is not None:
        value, last_id = query.after
        operator = "<" if descending else ">"
        where.append(f"({column}, id) {operator} ({param(value)}, {param(last_id)})")
    direction = "DESC" if descending else "ASC"
    sql = (
        f"SELECT {SUMMARY_COLUMNS} FROM dashboards WHERE {' AND '.join(where)} "
        f"ORDER BY {column} {direction}, id {direction} LIMIT {param(query.limit + 1)}"
    )
    return list(await conn.fetch(sql, *params))
