"""The schema browser: a source's tables and columns, read from the source by a refresh and
kept in ``data_source_schemas``; its summary in the source's ``schema_info``.

A refresh runs under the kit's lease on ``data_sources`` (``next_run_at``, ``leased_until``,
``leased_by``), so that one replica refreshes a source at a time: periodically
(``service/schema_refresher.py``) and on demand (``refresh_now``, which makes the source due and
claims it; one already being refreshed is 409 ``schema_refresh_in_progress``). The result, the
lease's completion (next run one interval later) and the ``data_source.schema_refreshed`` event
are one transaction; a holder whose lease expired meanwhile writes nothing.

A failed refresh keeps what the browser held and records the error (code and message) in the
summary. Browsing needs ``read`` on the source; refreshing, like a connection test, ``update`` or
``execute`` (it connects to the source).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import asyncpg
from lookout_contracts.events.datasource import DataSourceSchemaRefreshedV1
from lookout_kit import lease
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Conflict, Invalid, NotFound
from lookout_kit.outbox import publish_in_tx
from lookout_kit.secret_box import SecretBox

from lookout_datasource.repository import data_source_schemas, data_sources
from lookout_datasource.repository.data_sources import DataSourceRow
from lookout_datasource.schemas.schema_browser import (
    Problem,
    SchemaSummary,
    Table,
    TableColumn,
    TableColumns,
    TablePage,
)
from lookout_datasource.service import connections
from lookout_datasource.service.connection_tests import check_connect, problem_of
from lookout_datasource.service.connectors.base import ColumnInfo
from lookout_datasource.service.connectors.pools import ConnectorPools
from lookout_datasource.service.data_sources import event_of, load_data_source

logger = logging.getLogger("lookout.datasource.schema_browser")

TABLE = "data_sources"
NAME_LIMIT = 255
"""``data_source_schemas`` keeps names of at most this many characters; longer ones are left out."""


class LeaseLost(Exception):
    """The refresh's lease expired and may be another replica's: its result is not written."""


@dataclass(frozen=True)
class Refresher:
    """What a refresh needs: the service's pool, the connectors' pools, the secret box, the
    refresh interval and the lease's length."""

    pool: asyncpg.Pool
    pools: ConnectorPools
    box: SecretBox
    interval: timedelta
    lease_s: float


def _kept(columns: list[ColumnInfo]) -> list[ColumnInfo]:
    """Unique by (schema, table, column), in the source's order; over-long names left out."""
    seen: dict[tuple[str, str, str], ColumnInfo] = {}
    for column in columns:
        key = (column.schema_name, column.table_name, column.column_name)
        if key not in seen and all(0 < len(name) <= NAME_LIMIT for name in key):
            seen[key] = column
    return list(seen.values())


async def refresh_claimed(
    refresher: Refresher, row: DataSourceRow, *, owner: str, caller: Caller | None = None
) -> SchemaSummary:
    """Read the schema of a source ``owner`` holds the lease of and write it (``LeaseLost`` when
    the lease went meanwhile). Any other error releases the lease and is raised."""
    try:
        config = connections.open_config(refresher.box, row)
        columns: list[ColumnInfo] = []
        problem: Problem | None = None
        try:
            columns = _kept(await refresher.pools.introspect(row.id, row.type, config))
        except Exception as error:  # a failed refresh is recorded (problem_of says which)
            problem = problem_of(error, config, row.id)
        async with refresher.pool.acquire() as conn, conn.transaction():
            return await _write(conn, refresher, row, owner, columns, problem, caller)
    except LeaseLost:
        raise
    except Exception:
        await lease.release(refresher.pool, TABLE, [row.id], owner=owner)
        raise


async def _write(
    conn: asyncpg.Connection,
    refresher: Refresher,
    row: DataSourceRow,
    owner: str,
    columns: list[ColumnInfo],
    problem: Problem | None,
    caller: Caller | None,
) -> SchemaSummary:
    held = await lease.complete(conn, TABLE, [row.id], owner=owner, next_run=refresher.interval)
    if held == 0:
        raise LeaseLost(str(row.id))
    now = await conn.fetchval("SELECT statement_timestamp()")
    previous = row.schema_info or {}
    if problem is None:
        replaced = await data_source_schemas.replace_columns(conn, row.id, columns)
        tables, count, removed = replaced.tables, replaced.columns, replaced.removed
    else:
        tables, count = await data_source_schemas.counts(conn, row.id)
        removed = 0
    summary = SchemaSummary(
        succeeded=problem is None,
        tables=tables,
        columns=count,
        removed_columns=removed,
        refreshed_at=now if problem is None else previous.get("refreshed_at"),
        attempted_at=now,
        error=problem,
    )
    await data_source_schemas.record_schema_info(
        conn,
        row.tenant_id,
        row.id,
        summary.as_info(),
        refreshed_at=now if problem is None else None,
    )
    data = DataSourceSchemaRefreshedV1(
        succeeded=problem is None,
        tables=tables,
        columns=count,
        removed_columns=removed,
        error=problem.message[:4000] if problem else None,
        error_code=problem.code if problem else None,
    )
    await publish_in_tx(conn, event_of("data_source.schema_refreshed", caller, row, data))
    logger.info(
        "data source schema refreshed",
        extra={
            "data_source_id": str(row.id),
            "succeeded": problem is None,
            "tables": tables,
            "columns": count,
            "removed_columns": removed,
            "error_code": problem.code if problem else None,
        },
    )
    return summary


async def refresh_now(refresher: Refresher, caller: Caller, data_source_id: UUID) -> SchemaSummary:
    """Refresh the source's schema now, under its lease (409 while another refresh holds it)."""
    owner = lease.new_owner("schema-refresh")
    async with refresher.pool.acquire() as conn, conn.transaction():
        row = check_connect(
            caller, await data_sources.get_data_source(conn, caller.tenant_id, data_source_id)
        )
        await data_source_schemas.make_due(conn, caller.tenant_id, row.id)
        claimed = await lease.claim_due(
            conn, TABLE, limit=1, lease_s=refresher.lease_s, owner=owner, only=[row.id]
        )
        if not claimed:
            raise Conflict(
                "this data source's schema is being refreshed: try again in a moment",
                code="schema_refresh_in_progress",
            )
    try:
        return await refresh_claimed(
            refresher, DataSourceRow.of(claimed[0]), owner=owner, caller=caller
        )
    except LeaseLost:
        raise Conflict(
            "the refresh took longer than its lease and was not kept: try again",
            code="schema_refresh_in_progress",
        ) from None


# -- browsing ---------------------------------------------------------------------------------


def encode_table_cursor(schema_name: str, table_name: str) -> str:
    payload = json.dumps([schema_name, table_name]).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_table_cursor(cursor: str) -> tuple[str, str]:
    """(schema, table) of the previous page's last table; 422 ``invalid_cursor`` otherwise."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        schema_name, table_name = payload
        for name in (schema_name, table_name):
            if not isinstance(name, str) or "\x00" in name:
                raise ValueError("bad cursor")
            name.encode()  # a lone surrogate is a UnicodeEncodeError (a ValueError)
        return schema_name, table_name
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise Invalid(
            "invalid cursor: pass back next_cursor unchanged", code="invalid_cursor"
        ) from error


async def list_tables(
    pool: asyncpg.Pool,
    caller: Caller,
    data_source_id: UUID,
    *,
    search: str | None,
    limit: int,
    cursor: str | None,
) -> TablePage:
    after = decode_table_cursor(cursor) if cursor else None
    async with pool.acquire() as conn:
        row = await load_data_source(conn, caller, data_source_id, "read")
        found = await data_source_schemas.list_tables(
            conn, caller.tenant_id, row.id, search=search, limit=limit, after=after
        )
    page, more = found[:limit], len(found) > limit
    return TablePage(
        items=[
            Table(schema_name=t.schema_name, table_name=t.table_name, columns=t.columns)
            for t in page
        ],
        next_cursor=encode_table_cursor(page[-1].schema_name, page[-1].table_name)
        if more and page
        else None,
    )


async def table_columns(
    pool: asyncpg.Pool, caller: Caller, data_source_id: UUID, schema_name: str, table_name: str
) -> TableColumns:
    async with pool.acquire() as conn:
        row = await load_data_source(conn, caller, data_source_id, "read")
        found = await data_source_schemas.list_columns(
            conn, caller.tenant_id, row.id, schema_name, table_name
        )
    if not found:
        raise NotFound(
            f"the schema browser has no table {schema_name}.{table_name} in this data source",
            code="unknown_table",
        )
    return TableColumns(
        schema_name=schema_name,
        table_name=table_name,
        columns=[
            TableColumn(
                name=column.column_name,
                data_type=column.data_type,
                is_nullable=column.is_nullable,
                column_default=column.column_default,
                position=column.position,
            )
            for column in found
        ],
    )
