"""What ClickHouse already holds: the highest stored Kafka offset per (table, partition) of the
partition's current log, read from the ``<table>_log_offsets`` views, and the wait for INSERTs a
previous owner may still have running."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable

from aiokafka import TopicPartition
from lookout_kit.clickhouse import ClickHouse, quote

from lookout_ingestion.encoding import NO_LOG
from lookout_ingestion.mapping import TABLES, Table

logger = logging.getLogger("lookout.ingestion.offsets")

NOTHING_STORED = -1


class StoredOffsets:
    """Per (table, partition): the highest offset whose row is in ClickHouse, among the rows of
    the partition's current log (``logs.py``; ``NO_LOG`` until one is set).

    Rows of one log reach a table in offset order, one INSERT after the other, and an INSERT
    that fails part-way stores at most a prefix of its rows: so every row of the log up to
    that offset is stored, and a row at a higher offset is not.
    """

    def __init__(self) -> None:
        self._stored: dict[tuple[Table, TopicPartition], int] = {}
        self._threshold: dict[TopicPartition, int] = {}
        self._logs: dict[TopicPartition, uuid.UUID] = {}

    def set_log(self, partition: TopicPartition, log: uuid.UUID) -> None:
        """From now on the partition's rows are those of ``log``: what was read is forgotten."""
        self._logs[partition] = log
        self.forget([partition])

    def log(self, partition: TopicPartition) -> uuid.UUID:
        return self._logs.get(partition, NO_LOG)

    def stored(self, table: Table, partition: TopicPartition) -> int:
        return self._stored.get((table, partition), NOTHING_STORED)

    def threshold(self, partition: TopicPartition) -> int:
        """Offsets above this have no row in any table: the hot path skips all checks there."""
        return self._threshold.get(partition, NOTHING_STORED)

    def forget(self, partitions: Iterable[TopicPartition], *, logs: bool = False) -> None:
        """Drop what was read of ``partitions`` (``logs``: their logs too)."""
        for partition in partitions:
            if logs:
                self._logs.pop(partition, None)
            self._threshold.pop(partition, None)
            for table in TABLES:
                self._stored.pop((table, partition), None)

    async def load(self, clickhouse: ClickHouse, partitions: Iterable[TopicPartition]) -> None:
        """Read every table's stored offsets of ``partitions``."""
        wanted = set(partitions)
        for table in TABLES:
            await self.refresh(clickhouse, table, wanted)

    async def refresh(
        self,
        clickhouse: ClickHouse,
        table: Table,
        partitions: Iterable[TopicPartition],
        *,
        from_table: bool = False,
    ) -> None:
        """Read ``table``'s stored offsets of ``partitions`` (of each one's current log): from its
        offsets view (cheap), or, ``from_table``, from the table's own rows (a scan of its
        ``_topic, _log, _partition, _offset`` columns). After a failed INSERT the table is read: a ClickHouse server killed between
        writing an INSERT's table part and its view part leaves the view behind the table."""
        wanted = set(partitions)
        if not wanted:
            return
        topics = ", ".join(quote(topic) for topic in sorted({tp.topic for tp in wanted}))
        logs = ", ".join(sorted({f"toUUID('{self.log(tp)}')" for tp in wanted}))
        source = (
            f"max(_offset) AS stored FROM {table}"
            if from_table
            else f"maxMerge(max_offset) AS stored FROM {table}_log_offsets"
        )
        rows = await clickhouse.rows(
            f"SELECT _topic, _partition, _log, {source} "
            f"WHERE _topic IN ({topics}) AND _log IN ({logs}) GROUP BY _topic, _partition, _log"
        )
        for partition in wanted:
            self._stored.pop((table, partition), None)
        for row in rows:
            partition = TopicPartition(row["_topic"], int(row["_partition"]))
            if partition in wanted and str(self.log(partition)) == row["_log"]:
                self._stored[(table, partition)] = int(row["stored"])
        for partition in wanted:
            self._threshold[partition] = max(self.stored(other, partition) for other in TABLES)


async def wait_for_running_inserts(
    clickhouse: ClickHouse, query_id_prefix: str, *, poll_s: float = 0.1
) -> None:
    """Wait until every INSERT of this consumer group that runs now has ended.

    A killed or fenced owner's last INSERT can still be executing on the server; reading the stored
    offsets before it ends could miss rows it is about to store (then they would be stored twice).
    """
    running = await clickhouse.running_query_ids(query_id_prefix)
    while running:
        logger.info("waiting for a previous owner's inserts", extra={"queries": len(running)})
        await asyncio.sleep(poll_s)
        running &= await clickhouse.running_query_ids(query_id_prefix)
