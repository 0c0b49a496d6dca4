"""Insert step: one table's batch into ClickHouse, retried until it is stored, never stored twice.

Before a retry the writer learns what the failed attempt did: it waits until that attempt's query
is no longer running on the server (it may outlive a timed-out client), re-reads the stored offsets
and drops the rows already stored. Rows of partitions this consumer no longer owns are dropped at
every attempt: their new owner inserts them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

import aiohttp
from aiokafka import TopicPartition
from lookout_kit.clickhouse import ClickHouse, ClickHouseError
from lookout_kit.retry import Backoff, retry

from lookout_ingestion.batching import TableRows
from lookout_ingestion.mapping import COLUMNS, Table
from lookout_ingestion.metrics import BATCH_ROWS, INSERT_FAILURES, INSERT_SECONDS, ROWS
from lookout_ingestion.repository.offsets import StoredOffsets

logger = logging.getLogger("lookout.ingestion.insert")

# What a failed attempt can raise: the server refused or failed it, or could not be reached.
INSERT_ERRORS = (ClickHouseError, aiohttp.ClientError, TimeoutError, OSError)


async def insert_table(
    clickhouse: ClickHouse,
    table: Table,
    batch: TableRows,
    *,
    stored: StoredOffsets,
    owned: Callable[[TopicPartition], bool],
    backoff: Backoff,
    query_id_prefix: str,
) -> None:
    """Store ``batch`` in ``table``: return when every row still owned is in ClickHouse once.

    Retried with the kit's backoff until it succeeds; after each failed attempt, what it stored is
    learnt first (``_learn_outcome``), so the next attempt sends only what is not stored."""
    failed: list[str] = []  # the query id of the attempt that just failed

    async def attempt() -> None:
        batch.keep_unstored(owned, lambda partition: stored.stored(table, partition))
        if not batch:
            return
        query_id = f"{query_id_prefix}{uuid.uuid4().hex}"
        started = time.perf_counter()
        try:
            await clickhouse.insert_rowbinary(
                table, COLUMNS[table], b"".join(batch.rows), query_id=query_id
            )
        except INSERT_ERRORS:
            INSERT_FAILURES.labels(table).inc()
            failed[:] = [query_id]
            raise
        INSERT_SECONDS.labels(table).observe(time.perf_counter() - started)
        BATCH_ROWS.labels(table).observe(len(batch))
        ROWS.labels(table).inc(len(batch))

    async def learn(_error: BaseException) -> None:
        await _learn_outcome(clickhouse, table, batch, failed[0], stored, backoff, 0)

    await retry(
        attempt,
        what=f"insert into {table}",
        backoff=backoff,
        retry_on=INSERT_ERRORS,
        on_failure=learn,
        log=logger,
        log_extra={"table": table, "rows": len(batch)},
    )


async def _learn_outcome(
    clickhouse: ClickHouse,
    table: Table,
    batch: TableRows,
    query_id: str,
    stored: StoredOffsets,
    backoff: Backoff,
    attempt: int,
) -> None:
    """Wait (retrying with ``backoff`` while ClickHouse is unreachable) for the failed attempt
    ``query_id`` to end on the server, then re-read what it stored."""
    partitions = {partition for partition, _ in batch.origins}

    async def learn_once() -> None:
        while await clickhouse.is_running(query_id):
            await asyncio.sleep(0.1)
        await stored.refresh(clickhouse, table, partitions, from_table=True)

    if attempt:
        await asyncio.sleep(backoff.delay(attempt - 1))
    await retry(
        learn_once,
        what=f"learning what a failed insert into {table} stored",
        backoff=backoff,
        retry_on=INSERT_ERRORS,
        log=logger,
    )
