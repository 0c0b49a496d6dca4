"""A batch: up to 50 executions in one request (what a dashboard's data is), run concurrently
within each source's concurrency limit, one result or error per item, in the request's order.

Each item is planned (rights, values) and run as on its own (``service.executions``): its own
execution id, record and ``query.executed`` event, or its cache hit. An item's failure (no such
query, no right, bad values, a query error, a timeout) is that item's error, with the stable code
and the HTTP status the same error has alone; it never fails the others.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import DomainError

from lookout_datasource.schemas.executions import (
    BatchItem,
    BatchItemOutcome,
    BatchResult,
    ItemError,
)
from lookout_datasource.service.engine import Engine
from lookout_datasource.service.executions import Limits, Plan, plan_ad_hoc, plan_saved_query, run

logger = logging.getLogger("lookout.datasource.batch")


async def _plan(
    pool: asyncpg.Pool, engine: Engine, caller: Caller, index: int, item: BatchItem
) -> Plan:
    limits = Limits(row_limit=item.row_limit, timeout_s=item.timeout_s, max_age_s=item.max_age_s)
    location = ("body", "items", str(index), "values")
    async with pool.acquire() as conn:
        if item.saved_query_id is not None:
            return await plan_saved_query(
                conn, engine, caller, item.saved_query_id, item.values, limits, location=location
            )
        assert item.data_source_id is not None and item.query_text is not None  # the schema's
        return await plan_ad_hoc(
            conn,
            engine,
            caller,
            item.data_source_id,
            item.query_text,
            list(item.parameters or []),
            item.values,
            limits,
            location=location,
        )


async def _outcome(
    pool: asyncpg.Pool,
    events_pool: asyncpg.Pool,
    engine: Engine,
    caller: Caller,
    index: int,
    item: BatchItem,
) -> BatchItemOutcome:
    try:
        plan = await _plan(pool, engine, caller, index, item)
        return BatchItemOutcome(ok=True, result=await run(engine, events_pool, plan))
    except DomainError as error:
        details = error.details if isinstance(error.details, dict) else {}
        return BatchItemOutcome(
            ok=False,
            error=ItemError(
                code=error.code,
                message=error.message,
                status=error.status_code,
                execution_id=details.get("execution_id"),
                details=error.details,
            ),
        )
    except Exception:
        logger.exception("batch item failed unexpectedly", extra={"item": index})
        return BatchItemOutcome(
            ok=False, error=ItemError(code="internal", message="internal error", status=500)
        )


async def run_batch(
    pool: asyncpg.Pool,
    events_pool: asyncpg.Pool,
    engine: Engine,
    caller: Caller,
    items: list[BatchItem],
) -> BatchResult:
    outcomes = await asyncio.gather(
        *(
            _outcome(pool, events_pool, engine, caller, index, item)
            for index, item in enumerate(items)
        )
    )
    return BatchResult(items=list(outcomes))
