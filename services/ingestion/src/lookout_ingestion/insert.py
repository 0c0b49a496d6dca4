"""Insert step: one table's batch into ClickHouse, retried until it is stored, never stored twice.

Before a retry the writer learns what the failed attempt did: it waits until that attempt's query
is no longer running on the server (it may outlive a timed-out client), re-reads the stored offsets
and drops the rows already stored. Rows of partitions this consumer no longer owns are dropped at
every attempt: their new owner inserts them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiokafka import TopicPartition
from lookout_kit.clickhouse import ClickHouse, ClickHouseError

from lookout_ingestion.batching import TableRows
from lookout_ingestion.mapping import COLUMNS, Table
from lookout_ingestion.metrics import BATCH_ROWS, INSERT_FAILURES, INSERT_SECONDS, ROWS
from lookout_ingestion.offsets import StoredOffsets

logger = logging.getLogger("lookout.ingestion.insert")

# What a failed attempt can raise: the server refused or failed it, or could not be reached.
INSERT_ERRORS = (ClickHouseError, aiohttp.ClientError, TimeoutError, OSError)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: spreads replicas' retries after an outage."""

    initial_s: float
    max_s: float

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_s, self.initial_s * 2**attempt))


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
    """Store ``batch`` in ``table``: return when every row still owned is in ClickHouse once."""
    attempt = 0
    while True:
        batch.keep_unstored(owned, lambda partition: stored.stored(table, partition))
        if not batch:
            return
        query_id = f"{query_id_prefix}{uuid.uuid4().hex}"
        started = time.perf_counter()
        try:
            await clickhouse.insert_rowbinary(
                table, COLUMNS[table], b"".join(batch.rows), query_id=query_id
            )
        except INSERT_ERRORS as error:
            INSERT_FAILURES.labels(table).inc()
            logger.warning(
                "insert failed; retrying",
                extra={"table": table, "rows": len(batch), "error": repr(error)[:300]},
            )
            await _learn_outcome(clickhouse, table, batch, query_id, stored, backoff, attempt)
            attempt += 1
            continue
        INSERT_SECONDS.labels(table).observe(time.perf_counter() - started)
        BATCH_ROWS.labels(table).observe(len(batch))
        ROWS.labels(table).inc(len(batch))
        return


async def _learn_outcome(
    clickhouse: ClickHouse,
    table: Table,
    batch: TableRows,
    query_id: str,
    stored: StoredOffsets,
    backoff: Backoff,
    attempt: int,
) -> None:
    """Back off, then (retrying while ClickHouse is unreachable) wait for the failed attempt to end
    on the server and re-read what it stored."""
    partitions = {partition for partition, _ in batch.origins}
    while True:
        await asyncio.sleep(backoff.delay(attempt))
        try:
            while await clickhouse.is_running(query_id):
                await asyncio.sleep(0.1)
            await stored.refresh(clickhouse, table, partitions, from_table=True)
            return
        except INSERT_ERRORS as error:
            logger.info("clickhouse still unavailable", extra={"error": repr(error)[:300]})
            attempt += 1
