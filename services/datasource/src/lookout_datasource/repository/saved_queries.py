"""SQL of ``saved_queries``: rows, pages, updates, and the identity cleanups. Every query of a
tenant's data has the tenant in its ``WHERE``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from lookout_datasource.repository.visibility import Visibility, visible_sql

COLUMNS = (
    "id, name, description, query_text, data_source_id, user_id, tenant_id, parameters, is_public, "
    "created_at, updated_at, version"
)
CONTENT_FIELDS = ("name", "description", "query_text", "parameters", "data_source_id", "is_public")


@dataclass(frozen=True)
class SavedQueryRow:
    id: UUID
    name: str
    description: str | None
    query_text: str
    data_source_id: UUID
    user_id: UUID
    tenant_id: UUID
    parameters: list[dict[str, Any]] | None
    is_public: bool
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, record: asyncpg.Record) -> SavedQueryRow:
        return cls(**{key: record[key] for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Content:
    """What a saved query holds that its owner writes."""

    name: str
    description: str | None
    query_text: str
    parameters: list[dict[str, Any]]
    data_source_id: UUID
    is_public: bool


async def insert_saved_query(
    conn: asyncpg.Connection, *, tenant_id: UUID, user_id: UUID, content: Content
) -> SavedQueryRow:
    record = await conn.fetchrow(
        f"""
        INSERT INTO saved_queries (name, description, query_text, data_source_id, user_id,
                                   tenant_id, parameters, is_public)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        RETURNING {COLUMNS}
        """,
        content.name,
        content.description,
        content.query_text,
        content.data_source_id,
        user_id,
        tenant_id,
        content.parameters,
        content.is_public,
    )
    return SavedQueryRow.of(record)


async def get_saved_query(
    conn: asyncpg.Connection, tenant_id: UUID, saved_query_id: UUID, *, for_update: bool = False
) -> SavedQueryRow | None:
    lock = " FOR UPDATE" if for_update else ""
    record = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM saved_queries WHERE tenant_id = $1 AND id = $2{lock}",
        tenant_id,
        saved_query_id,
    )
    return None if record is None else SavedQueryRow.of(record)


@dataclass(frozen=True)
class SearchQuery:
    limit: int
    data_source_id: UUID | None = None
    text: str | None = None
    after: tuple[str, UUID] | None = None


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_saved_queries(
    conn: asyncpg.Connection, tenant_id: UUID, visibility: Visibility, query: SearchQuery
) -> list[SavedQueryRow]:
    """Up to ``limit`` + 1 saved queries the caller may see, by name then id."""
    params: list[Any] = [tenant_id, query.limit + 1]

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    where = [
        "tenant_id = $1",
        visible_sql(visibility, params, owner_column="user_id", public_column="is_public"),
    ]
    if query.data_source_id is not None:
        where.append(f"data_source_id = {param(query.data_source_id)}")
    if query.text:
        where.append(f"name ILIKE {param(_like_pattern(query.text))}")
    if query.after is not None:
        name, last_id = query.after
        where.append(f"(name, id) > ({param(name)}, {param(last_id)})")
    records = await conn.fetch(
        f"SELECT {COLUMNS} FROM saved_queries WHERE {' AND '.join(where)} "
        "ORDER BY name, id LIMIT $2",
        *params,
    )
    return [SavedQueryRow.of(record) for record in records]


async def update_saved_query(
    conn: asyncpg.Connection, tenant_id: UUID, saved_query_id: UUID, content: Content
) -> SavedQueryRow:
    record = await conn.fetchrow(
        f"""
        UPDATE saved_queries
        SET name = $3, description = $4, query_text = $5, parameters = $6, data_source_id = $7,
            is_public = $8, version = version + 1, updated_at = NOW()
        WHERE tenant_id = $1 AND id = $2
        RETURNING {COLUMNS}
        """,
        tenant_id,
        saved_query_id,
        content.name,
        content.description,
        content.query_text,
        content.parameters,
        content.data_source_id,
        content.is_public,
    )
    assert record is not None, "the caller locked the row"
    return SavedQueryRow.of(record)


async def delete_saved_query(
    conn: asyncpg.Connection, tenant_id: UUID, saved_query_id: UUID
) -> None:
    await conn.execute(
        "DELETE FROM saved_queries WHERE tenant_id = $1 AND id = $2", tenant_id, saved_query_id
    )


async def count_on_data_source(
    conn: asyncpg.Connection, tenant_id: UUID, data_source_id: UUID
) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM saved_queries WHERE tenant_id = $1 AND data_source_id = $2",
        tenant_id,
        data_source_id,
    )
    return count


async def delete_where(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    *,
    user_id: UUID | None = None,
    private_only: bool = False,
    data_source_ids: list[UUID] | None = None,
) -> list[UUID]:
    """Delete the tenant's saved queries (of ``user_id``; only private ones; or on any of
    ``data_source_ids``); their ids."""
    params: list[Any] = [tenant_id]
    where = ["tenant_id = $1"]
    if user_id is not None:
        params.append(user_id)
        where.append(f"user_id = ${len(params)}")
    if private_only:
        where.append("NOT is_public")
    if data_source_ids is not None:
        params.append(data_source_ids)
        where.append(f"data_source_id = ANY(${len(params)})")
    records = await conn.fetch(
        f"DELETE FROM saved_queries WHERE {' AND '.join(where)} RETURNING id", *params
    )
    return [record["id"] for record in records]


async def move_saved_queries(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, successor_id: UUID
) -> list[SavedQueryRow]:
    """Give ``user_id``'s saved queries to ``successor_id``; the moved rows."""
    records = await conn.fetch(
        f"""
        UPDATE saved_queries SET user_id = $3, version = version + 1, updated_at = NOW()
        WHERE tenant_id = $1 AND user_id = $2
        RETURNING {COLUMNS}
        """,
        tenant_id,
        user_id,
        successor_id,
    )
    return [SavedQueryRow.of(record) for record in records]
