"""What ClickHouse already holds: the highest stored Kafka offset per (table, partition), read from
the ``<table>_offsets`` views, and the wait for INSERTs a previous owner may still have running."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import TopicPartition

from lookout_ingestion.clickhouse import ClickHouse, quote
from lookout_ingestion.mapping import TABLES, Table

logger = logging.getLogger("lookout.ingestion.offsets")

NOTHING_STORED = -1


class StoredOffsets:
    """Per (table, partition): the highest offset whose row is in ClickHouse.

    Rows of one partition reach a table in offset order, one INSERT after the other, and an INSERT
    that fails part-way stores at most a prefix of its rows: so every row of the partition up to
    that offset is stored, and a row at a higher offset is not.
    """

    def __init__(self) -> None:
        self._stored: dict[tuple[Table, TopicPartition], int] = {}
        self._threshold: dict[TopicPartition, int] = {}

    def stored(self, table: Table, partition: TopicPartition) -> int:
        return self._stored.get((table, partition), NOTHING_STORED)

    def threshold(self, partition: TopicPartition) -> int:
        """Offsets above this have no row in any table: the hot path skips all checks there."""
        return self._threshold.get(partition, NOTHING_STORED)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        for partition in partitions:
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
        """Read ``table``'s stored offsets of ``partitions``: from its offsets view (cheap), or,
        ``from_table``, from the table's own rows (a scan of its ``_topic, _partition, _offset``
        columns). After a failed INSERT the table is read: a ClickHouse server killed between
        writing an INSERT's table part and its view part leaves the view behind the table."""
        wanted = set(partitions)
        if not wanted:
            return
        topics = ", ".join(quote(topic) for topic in sorted({tp.topic for tp in wanted}))
        source = (
            f"max(_offset) AS stored FROM {table}"
            if from_table
            else f"maxMerge(max_offset) AS stored FROM {table}_offsets"
        )
        rows = await clickhouse.rows(
            f"SELECT _topic, _partition, {source} "
            f"WHERE _topic IN ({topics}) GROUP BY _topic, _partition"
        )
        for partition in wanted:
            self._stored.pop((table, partition), None)
        for row in rows:
            partition = TopicPartition(row["_topic"], int(row["_partition"]))
            if partition in wanted:
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
