"""SQL of ``query_executions``: an execution recorded when it starts and when it ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

COLUMNS = (
    "id, tenant_id, user_id, data_source_id, saved_query_id, status, started_at, finished_at,"
    " row_count, duration_ms, error_code"
)


@dataclass(frozen=True)
class ExecutionRow:
    id: UUID
    tenant_id: UUID
    user_id: UUID
    data_source_id: UUID
    saved_query_id: UUID | None
    status: str
    started_at: datetime
    finished_at: datetime | None
    row_count: int | None
    duration_ms: int | None
    error_code: str | None

    @classmethod
    def of(cls, record: asyncpg.Record) -> ExecutionRow:
        return cls(**{key: record[key] for key in cls.__dataclass_fields__})


async def insert_execution(
    conn: asyncpg.Connection,
    *,
    id: UUID,
    tenant_id: UUID,
    user_id: UUID,
    data_source_id: UUID,
    saved_query_id: UUID | None,
) -> None:
    await conn.execute(
        "INSERT INTO query_executions (id, tenant_id, user_id, data_source_id, saved_query_id)"
        " VALUES ($1, $2, $3, $4, $5)",
        id,
        tenant_id,
        user_id,
        data_source_id,
        saved_query_id,
    )


FINISH = (
    "UPDATE query_executions SET status = $3, finished_at = now(), row_count = $4,"
    " duration_ms = $5, error_code = $6 WHERE tenant_id = $1 AND id = $2"
)
"""An execution's end; its arguments are ``finish_arguments``'s (the kit's ``execute_with_event``
runs it with the ``query.executed`` event, in one statement)."""


def finish_arguments(
    tenant_id: UUID,
    execution_id: UUID,
    *,
    status: str,
    row_count: int,
    duration_ms: int,
    error_code: str | None,
) -> tuple[object, ...]:
    return (tenant_id, execution_id, status, row_count, duration_ms, error_code)


async def get_execution(
    conn: asyncpg.Connection, tenant_id: UUID, execution_id: UUID
) -> ExecutionRow | None:
    record = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM query_executions WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        execution_id,
    )
    return None if record is None else ExecutionRow.of(record)


async def mark_lost(conn: asyncpg.Connection, older_than_s: float) -> int:
    """Executions still ``running`` long after any timeout (their replica stopped): ``failed``,
    error code ``lost``; how many."""
    done = await conn.execute(
        "UPDATE query_executions SET status = 'failed', finished_at = now(), error_code = 'lost'"
        " WHERE status = 'running' AND started_at < now() - make_interval(secs => $1)",
        older_than_s,
    )
    return int(done.split()[-1])


async def delete_older(conn: asyncpg.Connection, older_than_s: float, *, limit: int) -> int:
    """Delete up to ``limit`` executions started longer ago than ``older_than_s``; how many."""
    done = await conn.execute(
        "DELETE FROM query_executions WHERE id IN (SELECT id FROM query_executions"
        " WHERE started_at < now() - make_interval(secs => $1)"
        " ORDER BY started_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
        older_than_s,
        limit,
    )
    return int(done.split()[-1])
