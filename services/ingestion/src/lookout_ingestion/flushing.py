"""Flush and commit steps: the open batch, the one flush in flight (every table's INSERT together,
then the batch's dead letters), and the commit of its positions only after all of it is stored."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from lookout_kit.clickhouse import ClickHouse
from lookout_kit.retry import Backoff

from lookout_ingestion.batching import Batch
from lookout_ingestion.insert import insert_table
from lookout_ingestion.repository.offsets import StoredOffsets
from lookout_ingestion.settings import Settings

logger = logging.getLogger("lookout.ingestion.flushing")

Owned = Callable[[TopicPartition, int], bool]
"""Whether a partition is still this consumer's in the given generation (rebalances bump it)."""


class Flusher:
    """One flush at a time, so each partition's rows reach a table in offset order."""

    def __init__(
        self,
        settings: Settings,
        *,
        clickhouse: ClickHouse,
        consumer: AIOKafkaConsumer,
        stored: StoredOffsets,
        backoff: Backoff,
        query_id_prefix: str,
        owned: Owned,
    ) -> None:
        self._settings = settings
        self._clickhouse = clickhouse
        self._consumer = consumer
        self._stored = stored
        self._backoff = backoff
        self._query_id_prefix = query_id_prefix
        self._owned = owned
        self.batch = Batch()
        """The open batch: what the consumer reads goes here."""
        self._task: asyncio.Task[None] | None = None
        self._in_flight: Batch | None = None
        self.committed: dict[TopicPartition, int] = {}
        """What this consumer last committed per partition (for the lag metric)."""
        self.failed = False
        """A flush failed for good: nothing after it may be committed (its positions would pass
        events that are neither stored nor dead-lettered)."""

    @property
    def unflushed_rows(self) -> int:
        in_flight = 0 if self._in_flight is None else self._in_flight.row_count
        return self.batch.row_count + in_flight

    def due(self) -> bool:
        batch, settings = self.batch, self._settings
        return (
            self._task is None
            and not batch.is_empty()
            and (
                batch.largest_table() >= settings.batch_max_rows
                or batch.row_count >= settings.max_buffered_rows // 2
                or batch.age() >= settings.batch_max_age_s
            )
        )

    def start(self, generation: int) -> None:
        assert self._task is None, "one flush at a time keeps each partition's rows in order"
        batch, self.batch = self.batch, Batch()
        self._in_flight = batch
        self._task = asyncio.create_task(self._flush(batch, generation))

    def collect(self) -> None:
        """Forget a finished flush; a flush that failed for good (a dead letter not sent) raises
        here and stops the consumer."""
        task = self._task
        if task is not None and task.done():
            self._task = None
            self._in_flight = None
            if task.cancelled() or task.exception() is not None:
                self.failed = True
            task.result()

    async def drain(self, generation: Callable[[], int]) -> None:
        """Flush until nothing is buffered: the open batch and any flush in flight."""
        while True:
            task = self._task
            if task is not None:
                try:
                    await asyncio.shield(task)
                except Exception:
                    self.failed = True
                    raise
                if self._task is task:
                    self._task = None
                    self._in_flight = None
                continue
            if self.batch.is_empty():
                return
            self.start(generation())

    def never_commit(self, partition: TopicPartition) -> None:
        """Positions of ``partition`` read so far are not committed (its log began again: they
        would be taken for offsets of the new one). Their rows are still stored."""
        for batch in (self.batch, self._in_flight):
            if batch is not None:
                batch.positions.pop(partition, None)
                batch.logs.pop(partition, None)

    async def _flush(self, batch: Batch, generation: int) -> None:
        """insert every table's rows (together), await the dead letters, then commit."""

        def owned(partition: TopicPartition) -> bool:
            return self._owned(partition, generation)

        await asyncio.gather(
            *(
                insert_table(
                    self._clickhouse,
                    table,
                    rows,
                    stored=self._stored,
                    owned=owned,
                    backoff=self._backoff,
                    query_id_prefix=self._query_id_prefix,
                )
                for table, rows in batch.tables.items()
                if rows
            )
        )
        if batch.dead_letters:
            await asyncio.gather(*batch.dead_letters)
        offsets = {
            partition: OffsetAndMetadata(position, batch.logs.get(partition, ""))
            for partition, position in batch.positions.items()
            if owned(partition)
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as error:
            # The rows are stored: whoever reads these offsets again skips them.
            logger.warning("commit failed", extra={"error": repr(error)})
            return
        for partition, committed in offsets.items():
            self.committed[partition] = committed.offset
