"""SQL of ``data_sources``: rows, pages, updates, and the identity cleanups. Every query of a
tenant's data has the tenant in its ``WHERE``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from lookout_datasource.repository.visibility import Visibility, visible_sql

COLUMNS = (
    "id, name, type, connection_config, tenant_id, owner_id, schema_info, status, last_tested_at, "
    "created_at, updated_at, secrets, secret_names, version, schema_refreshed_at"
)


@dataclass(frozen=True)
class DataSourceRow:
    id: UUID
    name: str
    type: str
    connection_config: dict[str, Any]
    tenant_id: UUID
    owner_id: UUID
    schema_info: dict[str, Any] | None
    status: str
    last_tested_at: datetime | None
    created_at: datetime
    updated_at: datetime
    secrets: str | None
    secret_names: list[str]
    version: int
    schema_refreshed_at: datetime | None

    @classmethod
    def of(cls, record: asyncpg.Record) -> DataSourceRow:
        return cls(**{key: record[key] for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Connection:
    """What a data source stores of its connection: the plain settings and the sealed secrets."""

    config: dict[str, Any]
    secrets: str | None
    secret_names: list[str]


async def insert_data_source(
    conn: asyncpg.Connection,
    *,
    id: UUID,
    tenant_id: UUID,
    owner_id: UUID,
    name: str,
    type: str,
    connection: Connection,
) -> DataSourceRow | None:
    """The new row, or None when the tenant already has a source of that name."""
    record = await conn.fetchrow(
        f"""
        INSERT INTO data_sources (id, name, type, connection_config, tenant_id, owner_id, secrets,
                                  secret_names)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT ON CONSTRAINT data_sources_tenant_name DO NOTHING
        RETURNING {COLUMNS}
        """,
        id,
        name,
        type,
        connection.config,
        tenant_id,
        owner_id,
        connection.secrets,
        connection.secret_names,
    )
    return None if record is None else DataSourceRow.of(record)


async def get_data_source(
    conn: asyncpg.Connection, tenant_id: UUID, data_source_id: UUID, *, for_update: bool = False
) -> DataSourceRow | None:
    lock = " FOR UPDATE" if for_update else ""
    record = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM data_sources WHERE tenant_id = $1 AND id = $2{lock}",
        tenant_id,
        data_source_id,
    )
    return None if record is None else DataSourceRow.of(record)


async def list_data_sources(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    visibility: Visibility,
    *,
    limit: int,
    after: tuple[str, UUID] | None,
) -> list[DataSourceRow]:
    """Up to ``limit`` + 1 sources the caller may see, by name then id, after ``after``."""
    params: list[Any] = [tenant_id, limit + 1]
    where = ["tenant_id = $1", visible_sql(visibility, params, owner_column="owner_id")]
    if after is not None:
        params.extend(after)
        where.append(f"(name, id) > (${len(params) - 1}, ${len(params)})")
    records = await conn.fetch(
        f"SELECT {COLUMNS} FROM data_sources WHERE {' AND '.join(where)} "
        "ORDER BY name, id LIMIT $2",
        *params,
    )
    return [DataSourceRow.of(record) for record in records]


async def update_data_source(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    data_source_id: UUID,
    *,
    name: str,
    connection: Connection,
) -> DataSourceRow | None:
    """The updated row; None when another source of the tenant has that name."""
    try:
        async with conn.transaction():
            record = await conn.fetchrow(
                f"""
                UPDATE data_sources
                SET name = $3, connection_config = $4, secrets = $5, secret_names = $6,
                    version = version + 1, updated_at = NOW()
                WHERE tenant_id = $1 AND id = $2
                RETURNING {COLUMNS}
                """,
                tenant_id,
                data_source_id,
                name,
                connection.config,
                connection.secrets,
                connection.secret_names,
            )
    except asyncpg.UniqueViolationError:
        return None
    assert record is not None, "the caller locked the row"
    return DataSourceRow.of(record)


async def delete_data_source(
    conn: asyncpg.Connection, tenant_id: UUID, data_source_id: UUID
) -> None:
    await conn.execute(
        "DELETE FROM data_sources WHERE tenant_id = $1 AND id = $2", tenant_id, data_source_id
    )


async def delete_tenant(conn: asyncpg.Connection, tenant_id: UUID) -> list[UUID]:
    """Delete every source of the tenant (their saved queries must be gone); their ids."""
    records = await conn.fetch(
        "DELETE FROM data_sources WHERE tenant_id = $1 RETURNING id", tenant_id
    )
    return [record["id"] for record in records]


async def owned_by(conn: asyncpg.Connection, tenant_id: UUID, owner_id: UUID) -> list[UUID]:
    records = await conn.fetch(
        "SELECT id FROM data_sources WHERE tenant_id = $1 AND owner_id = $2 ORDER BY id FOR UPDATE",
        tenant_id,
        owner_id,
    )
    return [record["id"] for record in records]


async def delete_data_sources(
    conn: asyncpg.Connection, tenant_id: UUID, data_source_ids: list[UUID]
) -> None:
    await conn.execute(
        "DELETE FROM data_sources WHERE tenant_id = $1 AND id = ANY($2)", tenant_id, data_source_ids
    )


async def move_data_sources(
    conn: asyncpg.Connection, tenant_id: UUID, owner_id: UUID, successor_id: UUID
) -> list[DataSourceRow]:
    """Give ``owner_id``'s sources to ``successor_id``; the moved rows."""
    records = await conn.fetch(
        f"""
        UPDATE data_sources SET owner_id = $3, version = version + 1, updated_at = NOW()
        WHERE tenant_id = $1 AND owner_id = $2
        RETURNING {COLUMNS}
        """,
        tenant_id,
        owner_id,
        successor_id,
    )
    return [DataSourceRow.of(record) for record in records]


async def record_test(
    conn: asyncpg.Connection, tenant_id: UUID, data_source_id: UUID, *, status: str
) -> DataSourceRow | None:
    """A connection test's outcome: ``status`` and ``last_tested_at`` (not a change of the source:
    its version stays). None when the source is gone."""
    record = await conn.fetchrow(
        f"""
        UPDATE data_sources SET status = $3, last_tested_at = statement_timestamp()
        WHERE tenant_id = $1 AND id = $2
        RETURNING {COLUMNS}
        """,
        tenant_id,
        data_source_id,
        status,
    )
    return None if record is None else DataSourceRow.of(record)
