"""SQL of the schema browser: a source's introspected columns (``data_source_schemas``), replaced
by each refresh, its tables and columns read back, and the summary kept in
``data_sources.schema_info``. Reads join the source to have the tenant in their ``WHERE``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from lookout_datasource.service.connectors.base import ColumnInfo


@dataclass(frozen=True)
class Replaced:
    tables: int
    columns: int
    removed: int


@dataclass(frozen=True)
class TableRow:
    schema_name: str
    table_name: str
    columns: int


@dataclass(frozen=True)
class ColumnRow:
    column_name: str
    data_type: str
    is_nullable: bool
    column_default: str | None
    position: int


_UPSERT = """
INSERT INTO data_source_schemas (data_source_id, schema_name, table_name, column_name, data_type,
                                 is_nullable, column_default, position)
SELECT $1, u.s, u.t, u.c, u.d, u.n, u.f, u.p
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::text[], $8::int[])
     AS u(s, t, c, d, n, f, p)
ON CONFLICT (data_source_id, schema_name, table_name, column_name) DO UPDATE
SET data_type = EXCLUDED.data_type, is_nullable = EXCLUDED.is_nullable,
    column_default = EXCLUDED.column_default, position = EXCLUDED.position
WHERE (data_source_schemas.data_type, data_source_schemas.is_nullable,
       data_source_schemas.column_default, data_source_schemas.position)
      IS DISTINCT FROM (EXCLUDED.data_type, EXCLUDED.is_nullable, EXCLUDED.column_default,
                        EXCLUDED.position)
"""

_DELETE_GONE = """
DELETE FROM data_source_schemas AS kept
WHERE kept.data_source_id = $1
  AND NOT EXISTS (
      SELECT 1 FROM unnest($2::text[], $3::text[], $4::text[]) AS u(s, t, c)
      WHERE u.s = kept.schema_name AND u.t = kept.table_name AND u.c = kept.column_name
  )
"""


async def replace_columns(
    conn: asyncpg.Connection, data_source_id: UUID, columns: list[ColumnInfo]
) -> Replaced:
    """Make the source's rows exactly ``columns`` (unique by schema, table and column; in each
    table's order): new ones added, changed ones updated, missing ones removed."""
    positions: dict[tuple[str, str], int] = {}
    names: tuple[list[str], list[str], list[str]] = ([], [], [])
    details: tuple[list[str], list[bool], list[str | None], list[int]] = ([], [], [], [])
    for column in columns:
        table = (column.schema_name, column.table_name)
        positions[table] = positions.get(table, 0) + 1
        for values, value in zip(names, (*table, column.column_name), strict=True):
            values.append(value)
        details[0].append(column.data_type)
        details[1].append(column.is_nullable)
        details[2].append(column.column_default)
        details[3].append(positions[table])
    status = await conn.execute(_DELETE_GONE, data_source_id, *names)
    await conn.execute(_UPSERT, data_source_id, *names, *details)
    return Replaced(tables=len(positions), columns=len(columns), removed=int(status.split()[-1]))


async def counts(conn: asyncpg.Connection, data_source_id: UUID) -> tuple[int, int]:
    """(tables, columns) the browser holds for the source."""
    record = await conn.fetchrow(
        "SELECT count(DISTINCT (schema_name, table_name)), count(*) FROM data_source_schemas "
        "WHERE data_source_id = $1",
        data_source_id,
    )
    assert record is not None
    return int(record[0]), int(record[1])


async def record_schema_info(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    data_source_id: UUID,
    info: dict[str, Any],
    *,
    refreshed_at: datetime | None,
) -> bool:
    """Keep the refresh's summary; ``refreshed_at`` (a successful refresh) moves
    ``schema_refreshed_at``. Whether the source still exists."""
    status: str = await conn.execute(
        "UPDATE data_sources SET schema_info = $3, "
        "schema_refreshed_at = COALESCE($4, schema_refreshed_at) "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        data_source_id,
        info,
        refreshed_at,
    )
    return status != "UPDATE 0"


async def make_due(conn: asyncpg.Connection, tenant_id: UUID, data_source_id: UUID) -> None:
    """Due now, so that the lease's claim may take it (a refresh asked for on demand)."""
    await conn.execute(
        "UPDATE data_sources SET next_run_at = statement_timestamp() "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        data_source_id,
    )


def _like(search: str) -> str:
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_tables(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    data_source_id: UUID,
    *,
    search: str | None,
    limit: int,
    after: tuple[str, str] | None,
) -> list[TableRow]:
    """Up to ``limit`` + 1 tables by (schema, table) after ``after``, with their column counts.
    ``search`` is text in the table's name, or in ``schema.table`` when it holds a dot."""
    params: list[Any] = [tenant_id, data_source_id, limit + 1]
    where = ["source.tenant_id = $1", "item.data_source_id = $2"]
    if search:
        params.append(_like(search))
        name = "item.schema_name || '.' || item.table_name" if "." in search else "item.table_name"
        where.append(f"{name} ILIKE ${len(params)}")
    if after is not None:
        params.extend(after)
        where.append(f"(item.schema_name, item.table_name) > (${len(params) - 1}, ${len(params)})")
    records = await conn.fetch(
        f"""
        SELECT item.schema_name, item.table_name, count(*) AS columns
        FROM data_source_schemas AS item
        JOIN data_sources AS source ON source.id = item.data_source_id
        WHERE {" AND ".join(where)}
        GROUP BY item.schema_name, item.table_name
        ORDER BY item.schema_name, item.table_name
        LIMIT $3
        """,
        *params,
    )
    return [TableRow(record[0], record[1], int(record[2])) for record in records]


async def list_columns(
    conn: asyncpg.Connection, tenant_id: UUID, data_source_id: UUID, schema: str, table: str
) -> list[ColumnRow]:
    """The table's columns in its own order (none: the browser has no such table)."""
    records = await conn.fetch(
        """
        SELECT item.column_name, item.data_type, item.is_nullable, item.column_default,
               item.position
        FROM data_source_schemas AS item
        JOIN data_sources AS source ON source.id = item.data_source_id
        WHERE source.tenant_id = $1 AND item.data_source_id = $2
          AND item.schema_name = $3 AND item.table_name = $4
        ORDER BY item.position, item.column_name
        """,
        tenant_id,
        data_source_id,
        schema,
        table,
    )
    return [ColumnRow(*record) for record in records]
