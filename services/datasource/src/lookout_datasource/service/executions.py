"""Executions: a saved query run with the caller's values, or an ad hoc query on a source the
caller may ``execute``; each one recorded, bounded, cancellable and reported.

- **Rights.** A saved query runs for whoever has ``view`` on it (values bound by the driver, never
  spliced, so a viewer's own values are safe); an ad hoc query needs ``data_source:execute`` on the
  source (403 without it, 404 for a source the caller cannot see or another tenant's).
- **Limits.** ``row_limit`` and ``timeout_s`` of a request may lower the service's
  (``execution_row_limit``, ``execution_timeout_s``), never raise them; at most
  ``pool_max_concurrency`` executions of a source run at once per replica
  (``ConnectorPools``); one that waits past its timeout for a slot fails as ``timeout``.
- **Record.** A ``query_executions`` row is written when an execution starts (``running``; while
  the query goes to its server, on another connection) and when it ends (``success``, ``failed``,
  ``timeout``, ``cancelled``; once the start is written), the end in one statement with its
  ``query.executed`` event (the kit's outbox, ``execute_with_event``: all or nothing, one round
  trip): ``query_id`` = the execution's id = the event's subject, the actor the user it ran for
  (none for a tenant service). Both on the events pool (no WAL flush wait).
- **Cancel** works from any replica: the connector stops the execution by its id on the server;
  the replica running it then records ``cancelled``. The one who started it, a tenant admin
  (``tenant:admin``) or an admin of the source (``data_source:admin``) may cancel it.
- **Cache.** With ``max_age_s`` a result of the same query, values and limit on the same source
  version, stored at most that long ago, is returned instead (``cached: true``, its age); it is
  not an execution (no row, no event). Every result run with ``max_age_s`` is stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from lookout_contracts import make_event
from lookout_contracts.events.datasource import UINT32_MAX, QueryExecutedV1
from lookout_kit.auth.caller import Caller
from lookout_kit.outbox import execute_with_event
from prometheus_client import Counter, Histogram

from lookout_datasource.repository import executions
from lookout_datasource.repository.data_sources import DataSourceRow
from lookout_datasource.schemas.executions import (
    ExecutionResult,
    ResultColumn,
)
from lookout_datasource.schemas.parameters import Parameter
from lookout_datasource.service import access
from lookout_datasource.service.connectors.base import Cancelled, ConnectionConfig, ConnectorError
from lookout_datasource.service.data_sources import get_data_source_with_secrets, load_data_source
from lookout_datasource.service.engine import Engine
from lookout_datasource.service.parameter_values import bind_values
from lookout_datasource.service.result_cache import cache_key
from lookout_datasource.service.saved_queries import load_saved_query

logger = logging.getLogger("lookout.datasource.executions")

EXECUTIONS = Counter(
    "lookout_datasource_executions_total",
    "Executions ended, by kind and status",
    ["kind", "status"],
)
EXECUTION_SECONDS = Histogram(
    "lookout_datasource_execution_seconds",
    "How long executions took, by kind",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
CACHE_HITS = Counter(
    "lookout_datasource_result_cache_hits_total", "Results answered from the cache"
)

NO_EXECUTION = "no such execution"
STATUS_OF_CODE = {"timeout": "timeout", "cancelled": "cancelled"}
MAX_EVENT_TEXT = 100_000
MAX_EVENT_ERROR = 4_000


@dataclass(frozen=True)
class Limits:
    row_limit: int | None = None
    timeout_s: float | None = None
    max_age_s: int | None = None


@dataclass(frozen=True)
class Plan:
    """One execution, authorised and ready: what runs where, for whom, within which limits."""

    caller: Caller
    data_source: DataSourceRow
    config: ConnectionConfig
    saved_query_id: UUID | None
    query_text: str
    values: dict[str, Any]
    row_limit: int
    timeout_s: float
    max_age_s: int | None


def _plan(
    engine: Engine,
    caller: Caller,
    data_source: DataSourceRow,
    config: ConnectionConfig,
    saved_query_id: UUID | None,
    query_text: str,
    values: dict[str, Any],
    limits: Limits,
) -> Plan:
    settings = engine.settings
    return Plan(
        caller=caller,
        data_source=data_source,
        config=config,
        saved_query_id=saved_query_id,
        query_text=query_text,
        values=values,
        row_limit=min(
            limits.row_limit or settings.execution_row_limit, settings.execution_row_limit
        ),
        timeout_s=min(
            limits.timeout_s or settings.execution_timeout_s, settings.execution_timeout_s
        ),
        max_age_s=limits.max_age_s,
    )


async def plan_saved_query(
    conn: asyncpg.Connection,
    engine: Engine,
    caller: Caller,
    saved_query_id: UUID,
    values: dict[str, Any],
    limits: Limits,
    *,
    location: tuple[str, ...] = ("body", "values"),
) -> Plan:
    """A run of a saved query the caller may view, with ``values`` checked against its parameters."""
    row, _ = await load_saved_query(conn, caller, saved_query_id, "view")
    parameters = [Parameter.model_validate(p) for p in row.parameters or []]
    bound = bind_values(row.query_text, parameters, values, location=location)
    data_source, config = await get_data_source_with_secrets(
        conn, engine.box, caller.tenant_id, row.data_source_id, opener=engine.open_config
    )
    return _plan(engine, caller, data_source, config, row.id, row.query_text, bound, limits)


async def plan_ad_hoc(
    conn: asyncpg.Connection,
    engine: Engine,
    caller: Caller,
    data_source_id: UUID,
    query_text: str,
    parameters: list[Parameter],
    values: dict[str, Any],
    limits: Limits,
    *,
    location: tuple[str, ...] = ("body", "values"),
) -> Plan:
    """A run of ``query_text`` on a source the caller may execute queries on."""
    data_source = await load_data_source(conn, caller, data_source_id, "execute")
    bound = bind_values(query_text, parameters, values, location=location)
    config = engine.open_config(data_source)
    return _plan(engine, caller, data_source, config, None, query_text, bound, limits)


def executed_event(
    plan: Plan,
    execution_id: UUID,
    *,
    status: str,
    duration_ms: int,
    rows: int = 0,
    bytes_returned: int = 0,
    error: str | None = None,
) -> Any:
    data = QueryExecutedV1(
        query_id=execution_id,
        data_source_id=plan.data_source.id,
        saved_query_id=plan.saved_query_id,
        query_text=plan.query_text[:MAX_EVENT_TEXT],
        execution_time_ms=min(max(0, duration_ms), UINT32_MAX),
        rows_returned=rows,
        bytes_returned=bytes_returned,
        status=status,
        error=None if error is None else error[:MAX_EVENT_ERROR],
    )
    return make_event(
        "query.executed",
        tenant_id=plan.caller.tenant_id,
        subject_id=execution_id,
        data=data,
        actor_id=access.actor_of(plan.caller),
        session_id=plan.caller.session_id,
    )


async def _record_start(events_pool: asyncpg.Pool, plan: Plan, execution_id: UUID) -> None:
    async with events_pool.acquire() as conn:
        await executions.insert_execution(
            conn,
            id=execution_id,
            tenant_id=plan.caller.tenant_id,
            user_id=plan.caller.user_id,
            data_source_id=plan.data_source.id,
            saved_query_id=plan.saved_query_id,
        )


async def _finish(
    events_pool: asyncpg.Pool,
    plan: Plan,
    execution_id: UUID,
    recording: asyncio.Future[None],
    *,
    status: str,
    duration_ms: int,
    rows: int = 0,
    bytes_returned: int = 0,
    error: tuple[str, str] | None = None,
) -> None:
    """The execution's end and its event, in one statement (one round trip, all or nothing),
    once its start is recorded (``recording``); ``error`` is (code, message)."""
    await recording
    EXECUTIONS.labels(plan.data_source.type, status).inc()
    EXECUTION_SECONDS.labels(plan.data_source.type).observe(duration_ms / 1000)
    event = executed_event(
        plan,
        execution_id,
        status=status,
        duration_ms=duration_ms,
        rows=rows,
        bytes_returned=bytes_returned,
        error=None if error is None else f"{error[0]}: {error[1]}",
    )
    arguments = executions.finish_arguments(
        plan.caller.tenant_id,
        execution_id,
        status=status,
        row_count=rows,
        duration_ms=duration_ms,
        error_code=None if error is None else error[0],
    )
    async with events_pool.acquire() as conn:
        await execute_with_event(conn, executions.FINISH, arguments, event)


async def _cached(engine: Engine, plan: Plan) -> tuple[str | None, ExecutionResult | None]:
    if engine.cache is None or not plan.max_age_s:
        return None, None
    key = cache_key(
        plan.caller.tenant_id,
        plan.data_source.id,
        plan.data_source.version,
        plan.query_text,
        plan.values,
        plan.row_limit,
    )
    hit = await engine.cache.get(key, plan.max_age_s)
    if hit is None:
        return key, None
    stored, age = hit
    try:
        result = ExecutionResult.model_validate({**stored, "cached": True, "cache_age_s": age})
    except ValueError:
        return key, None
    return key, result


async def run(engine: Engine, events_pool: asyncpg.Pool, plan: Plan) -> ExecutionResult:
    """Run ``plan`` (or answer it from the cache); a failure raises its ``ConnectorError`` with
    the execution's id and status in ``details``."""
    key, cached = await _cached(engine, plan)
    if cached is not None:
        CACHE_HITS.inc()
        return cached
    execution_id = uuid.uuid4()
    # Its start is recorded (another connection) while the query goes to its server; the end
    # waits for that record (``_finish``).
    recording = asyncio.ensure_future(_record_start(events_pool, plan, execution_id))
    started = time.monotonic()
    task = asyncio.current_task()
    if task is not None:
        engine.running[execution_id] = task
    try:
        result = await engine.pools.execute(
            plan.data_source.id,
            plan.data_source.type,
            plan.config,
            plan.query_text,
            plan.values,
            row_limit=plan.row_limit,
            timeout_s=plan.timeout_s,
            execution_id=execution_id,
        )
    except ConnectorError as error:
        status = STATUS_OF_CODE.get(error.code, "failed")
        await _finish(
            events_pool,
            plan,
            execution_id,
            recording,
            status=status,
            duration_ms=round((time.monotonic() - started) * 1000),
            error=(error.code, error.message),
        )
        logger.info(
            "execution ended without a result",
            extra={
                "execution_id": str(execution_id),
                "data_source_id": str(plan.data_source.id),
                "status": status,
                "code": error.code,
            },
        )
        error.details = {"execution_id": str(execution_id), "status": status}
        raise
    except Exception:
        # Not a connector's error: a bug. The execution still ends, as failed, and says so.
        logger.exception("execution failed unexpectedly", extra={"execution_id": str(execution_id)})
        await _finish(
            events_pool,
            plan,
            execution_id,
            recording,
            status="failed",
            duration_ms=round((time.monotonic() - started) * 1000),
            error=("internal", "internal error"),
        )
        raise
    except asyncio.CancelledError:
        # Cancelled here before the query reached its server (``Engine.cancel_local``), or the
        # request went away (the connector has stopped the query): the record says so.
        ending = _finish(
            events_pool,
            plan,
            execution_id,
            recording,
            status="cancelled",
            duration_ms=round((time.monotonic() - started) * 1000),
            error=("cancelled", "the query was cancelled"),
        )
        await asyncio.shield(ending)
        if execution_id in engine.cancelled_here and task is not None:
            engine.cancelled_here.discard(execution_id)
            task.uncancel()
            stopped = Cancelled("the query was cancelled")
            stopped.details = {"execution_id": str(execution_id), "status": "cancelled"}
            raise stopped from None
        raise
    finally:
        engine.running.pop(execution_id, None)
    await _finish(
        events_pool,
        plan,
        execution_id,
        recording,
        status="success",
        duration_ms=result.duration_ms,
        rows=result.row_count,
        bytes_returned=result.bytes,
    )
    # Built without validation: every field is the service's own (10,000 rows validated again
    # would cost more than reading them). The rows are in ``rows_json`` only, as encoded once.
    shown = ExecutionResult.model_construct(
        execution_id=execution_id,
        data_source_id=plan.data_source.id,
        saved_query_id=plan.saved_query_id,
        columns=[ResultColumn(name=column.name, type=column.type) for column in result.columns],
        rows=[],
        row_count=result.row_count,
        bytes=result.bytes,
        duration_ms=result.duration_ms,
        truncated=result.truncated,
    )
    shown.rows_json = result.rows_json
    if key is not None and engine.cache is not None:
        await engine.cache.put(key, shown.to_json())
    return shown
